//! Fetching tensors from inside `If` branches: the parent passes them out, the other branch
//! gives an empty tensor, a tensor the branch already returns is passed out as a copy (a
//! subgraph output name must not repeat); and (through `$PRECISION_PYTHON`) ONNX Runtime runs
//! the result, giving each tensor only when its branch ran.

mod common;

use std::process::Command;

use common::*;
use precision_onnx::LayerTable;
use precision_onnx::expose::{Fetch, expose};
use precision_onnx::layers::GraphStep;

fn then_branch() -> Vec<GraphStep> {
    vec![GraphStep { node: 2, attr: "then_branch".into(), index: 0 }]
}

#[test]
fn branch_tensors_become_graph_outputs() {
    let mut model = branchy_opset13();
    let table_before = LayerTable::build(&model);
    let fetches = vec![
        Fetch { graph: then_branch(), tensor: "t1".into(), output: "then::t1".into() },
        Fetch {
            graph: vec![GraphStep { node: 2, attr: "else_branch".into(), index: 0 }],
            tensor: "e1".into(),
            output: "else::e1".into(),
        },
        // Already the then branch's output (and e1 the else branch's).
        Fetch { graph: then_branch(), tensor: "t2".into(), output: "then::t2".into() },
        Fetch { graph: vec![], tensor: "b".into(), output: "b".into() },
    ];
    expose(&mut model, &fetches).unwrap();
    let outputs = model.output_names();
    assert_eq!(outputs, ["y", "n", "then::t1", "else::e1", "then::t2", "b"]);
    let branch = &model.graph().node[2];
    assert_eq!(branch.output.len(), 4, "three tensors passed out");
    // Node positions did not move: the layer table still describes the model.
    let table_after = LayerTable::build(&model);
    for a in &table_before.layers {
        let b = &table_after.layers[table_after.layer_at(&a.graph, a.node).unwrap()];
        assert_eq!((&a.name, &a.op), (&b.name, &b.op));
    }

    let dir = tempfile::tempdir().unwrap();
    let path = save(&model, dir.path(), "exposed.onnx");
    let script = "import onnxruntime as ort, numpy as np, sys\n\
        s = ort.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])\n\
        x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2\n\
        for cond in (True, False):\n\
        \x20   out = dict(zip([o.name for o in s.get_outputs()], s.run(None, {'x': x, 'cond': np.array(cond)})))\n\
        \x20   print(cond, out['then::t1'].shape, out['else::e1'].shape, float(np.abs(out['then::t2'] - out['b']).max()) if out['then::t2'].size else -1.0)";
    let out = Command::new(python()).args(["-c", script, path.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines, ["True (2, 3) (0,) 0.0", "False (0,) (2, 3) -1.0"], "{text}");
}
