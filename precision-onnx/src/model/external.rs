//! External data of an ONNX model: the files its tensors name, each opened once, only regular
//! files inside the model's resolved folder, byte ranges checked before anything is read.

#[allow(clippy::wildcard_imports)]
use super::*;

/// The external data files of one model, each opened once and read by range (a file holding
/// many tensors is read once in all, not once per tensor).
///
/// A tensor's `location` must name a regular file inside the model's folder: an absolute path,
/// a `..` step or a symbolic link that leads out of the folder is refused, as is anything but
/// a regular file (a FIFO cannot hang the load, a device cannot fill memory), and the byte
/// range is checked against the file's size before anything is read.
pub(super) struct ExternalData {
    /// The model's folder, as given.
    pub(super) folder: PathBuf,
    /// The model's folder with symbolic links resolved, once a tensor needs it.
    pub(super) resolved: Option<PathBuf>,
    /// The files opened so far, by resolved path, with their sizes.
    pub(super) files: HashMap<PathBuf, (File, u64)>,
    /// Only list the files (checked as for reading), read no tensor.
    pub(super) list_only: bool,
}

impl ExternalData {
    pub(super) fn new(folder: &Path) -> Self {
        let folder =
            if folder.as_os_str().is_empty() { PathBuf::from(".") } else { folder.to_owned() };
        ExternalData { folder, resolved: None, files: HashMap::new(), list_only: false }
    }

    /// Reads `t`'s external data into `raw_data`, if it has any.
    pub(super) fn read_tensor(&mut self, t: &mut TensorProto) -> Result<()> {
        if t.data_location.enum_value() != Ok(DataLocation::EXTERNAL) {
            return Ok(());
        }
        let field = |key: &str| t.external_data.iter().find(|e| e.key == key).map(|e| &e.value);
        let Some(location) = field("location").cloned() else {
            return Err(OnnxError::Invalid(format!(
                "tensor '{}': external data without a location",
                t.name
            )));
        };
        let err = |detail: String| OnnxError::ExternalData {
            tensor: t.name.clone(),
            location: location.clone(),
            detail,
        };
        let number = |key: &str| -> Result<Option<u64>> {
            field(key)
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .map_err(|_| err(format!("its {key} '{v}' is not a non-negative integer")))
                })
                .transpose()
        };
        let offset = number("offset")?.unwrap_or(0);
        let length = number("length")?;
        let list_only = self.list_only;
        let (path, file, size) = self.open(&location).map_err(&err)?;
        if list_only {
            return Ok(());
        }
        let end = match length {
            Some(length) => offset
                .checked_add(length)
                .ok_or_else(|| err(format!("offset {offset} + length {length} overflows")))?,
            None => size,
        };
        if offset > size || end > size {
            return Err(err(format!(
                "bytes {offset}..{end} lie outside {} ({size} bytes): the data file does not \
                 belong to this model, or it is incomplete",
                path.display()
            )));
        }
        let len = usize::try_from(end - offset)
            .map_err(|_| err(format!("{} bytes do not fit in memory", end - offset)))?;
        let mut data = Vec::new();
        data.try_reserve_exact(len)
            .map_err(|_| err(format!("cannot allocate {len} bytes for its data")))?;
        let read = read_range(file, offset, len as u64, &mut data)
            .map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
        if read != len {
            return Err(err(format!(
                "{} ended after {read} of the {len} bytes at offset {offset} (did it shrink \
                 while loading?)",
                path.display()
            )));
        }
        t.raw_data = data;
        t.external_data.clear();
        t.data_location = EnumOrUnknown::new(DataLocation::DEFAULT);
        Ok(())
    }

    /// The file at `location` (opened once per resolved path), its resolved path and size; or
    /// what is wrong with it.
    pub(super) fn open(
        &mut self,
        location: &str,
    ) -> std::result::Result<(PathBuf, &File, u64), String> {
        let rel = Path::new(location);
        if location.is_empty()
            || rel.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err("the location must be a relative path inside the model's folder \
                 (no absolute path, no '..')"
                .to_owned());
        }
        if self.resolved.is_none() {
            let f = std::fs::canonicalize(&self.folder).map_err(|e| {
                format!("cannot resolve the model's folder {}: {e}", self.folder.display())
            })?;
            self.resolved = Some(f);
        }
        let folder = self.resolved.clone().expect("resolved above");
        let given = self.folder.join(rel);
        let path = std::fs::canonicalize(folder.join(rel)).map_err(|e| {
            format!(
                "cannot open {} ({e}); keep the data file in the model's folder",
                given.display()
            )
        })?;
        if !path.starts_with(&folder) {
            return Err(format!(
                "{} resolves to {}, outside the model's folder {}: a symbolic link leads out \
                 of it. External data must stay inside the model's folder; copy the file there",
                given.display(),
                path.display(),
                folder.display()
            ));
        }
        if !self.files.contains_key(&path) {
            let file = open_regular(&path)?;
            let size = file
                .metadata()
                .map_err(|e| format!("cannot read the size of {}: {e}", path.display()))?
                .len();
            self.files.insert(path.clone(), (file, size));
        }
        let (file, size) = &self.files[&path];
        Ok((path, file, *size))
    }
}

/// Appends at most `len` bytes of `file` from `offset` to `data`; returns how many.
pub(super) fn read_range(
    mut file: &File,
    offset: u64,
    len: u64,
    data: &mut Vec<u8>,
) -> std::io::Result<usize> {
    file.seek(SeekFrom::Start(offset))?;
    file.take(len).read_to_end(data)
}

/// Opens `path` for reading if it is a regular file. The type is checked before opening, and
/// again on the open handle; on Unix the open does not block (a FIFO put in its place cannot
/// hang the load) and does not follow a symbolic link put in its place.
pub(super) fn open_regular(path: &Path) -> std::result::Result<File, String> {
    let not_regular = |t: std::fs::FileType| {
        format!("{} is {}, not a regular file", path.display(), file_kind(t))
    };
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(not_regular(meta.file_type()));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW);
    }
    let file = options.open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let meta = file.metadata().map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(not_regular(meta.file_type()));
    }
    Ok(file)
}

/// What a file that is not a regular file is, for messages.
pub(super) fn file_kind(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() { "a folder" } else { "something else" }
}

/// The external data files the model file at `path` reads (resolved paths, each once), checked
/// as loading checks them but without reading any tensor: for commands that must know every
/// file they read before they write anything.
pub fn external_data_files(path: &Path) -> Result<Vec<PathBuf>> {
    let bytes =
        std::fs::read(path).map_err(|source| OnnxError::Read { path: path.to_owned(), source })?;
    let mut proto = ModelProto::parse_from_bytes(&bytes)
        .map_err(|e| OnnxError::Decode { path: path.to_owned(), detail: e.to_string() })?;
    drop(bytes);
    let mut data = ExternalData::new(path.parent().unwrap_or_else(|| Path::new(".")));
    data.list_only = true;
    walk_external_data(&mut proto, &mut data)?;
    let mut files: Vec<PathBuf> = data.files.into_keys().collect();
    files.sort();
    Ok(files)
}

/// Reads every external-data tensor of `model` (graphs, subgraphs, functions, training
/// graphs; sparse tensors too) into memory.
pub(super) fn load_external_data(model: &mut ModelProto, base: &Path) -> Result<()> {
    walk_external_data(model, &mut ExternalData::new(base))
}

/// Visits every tensor of `model` that may hold external data with `data`.
pub(super) fn walk_external_data(model: &mut ModelProto, data: &mut ExternalData) -> Result<()> {
    if let Some(graph) = model.graph.as_mut() {
        graph_external_data(graph, data)?;
    }
    for info in &mut model.training_info {
        for g in [info.initialization.as_mut(), info.algorithm.as_mut()].into_iter().flatten() {
            graph_external_data(g, data)?;
        }
    }
    for f in &mut model.functions {
        for node in &mut f.node {
            node_external_data(node, data)?;
        }
    }
    Ok(())
}

pub(super) fn graph_external_data(graph: &mut GraphProto, data: &mut ExternalData) -> Result<()> {
    for t in &mut graph.initializer {
        data.read_tensor(t)?;
    }
    for s in &mut graph.sparse_initializer {
        sparse_external_data(s, data)?;
    }
    for node in &mut graph.node {
        node_external_data(node, data)?;
    }
    Ok(())
}

pub(super) fn node_external_data(
    node: &mut onnx_protobuf::NodeProto,
    data: &mut ExternalData,
) -> Result<()> {
    for a in &mut node.attribute {
        if let Some(t) = a.t.as_mut() {
            data.read_tensor(t)?;
        }
        for t in &mut a.tensors {
            data.read_tensor(t)?;
        }
        if let Some(s) = a.sparse_tensor.as_mut() {
            sparse_external_data(s, data)?;
        }
        for s in &mut a.sparse_tensors {
            sparse_external_data(s, data)?;
        }
        if let Some(g) = a.g.as_mut() {
            graph_external_data(g, data)?;
        }
        for g in &mut a.graphs {
            graph_external_data(g, data)?;
        }
    }
    Ok(())
}

pub(super) fn sparse_external_data(
    s: &mut onnx_protobuf::SparseTensorProto,
    data: &mut ExternalData,
) -> Result<()> {
    for t in [s.values.as_mut(), s.indices.as_mut()].into_iter().flatten() {
        data.read_tensor(t)?;
    }
    Ok(())
}
