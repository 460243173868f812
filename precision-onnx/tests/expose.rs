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
    let out = Command::new(fixtures::env::python())
        .args(["-c", script, path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines, ["True (2, 3) (0,) 0.0", "False (0,) (2, 3) -1.0"], "{text}");
}

/// A tensor of a `Loop` body comes out as a scan output, one slice per iteration; the body's
/// layers are rewritten to float16 inside the body; ONNX Runtime runs both.
#[test]
fn loop_body_tensors_come_out_per_iteration() {
    use precision_core::{Precision, PrecisionPlan};
    use precision_onnx::rewrite::layer_precisions;
    use precision_onnx::{ActivationScales, RewriteOptions, rewrite};

    let model = loop_opset13();
    let table = LayerTable::build(&model);
    let names: Vec<&str> = table.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        ["loop", "loop/body/Identity_0", "loop/body/scale", "loop/body/shift", "loop/body/act"]
    );
    let body = vec![GraphStep { node: 0, attr: "body".into(), index: 0 }];
    let mut exposed = model.clone();
    expose(&mut exposed, &[Fetch { graph: body, tensor: "m".into(), output: "body::m".into() }])
        .unwrap();

    let net = table.network(
        "m",
        model.input_infos_lenient(),
        model.output_names(),
        &[Precision::Float16],
    );
    let plan = PrecisionPlan::new(&net, vec![Precision::Float16], Precision::Float32).unwrap();
    let precisions = layer_precisions(&table, &net, &plan).unwrap();
    let (lowered, summary) =
        rewrite(&exposed, &table, &precisions, &ActivationScales::new(), RewriteOptions::default())
            .unwrap();
    assert!(summary.casts > 0);

    let dir = tempfile::tempdir().unwrap();
    let a = save(&exposed, dir.path(), "exposed.onnx");
    let b = save(&lowered, dir.path(), "lowered.onnx");
    let script = "import onnxruntime as ort, numpy as np, sys\n\
        x = np.linspace(-1, 2, 6, dtype=np.float32).reshape(2, 3)\n\
        outs = []\n\
        for p in sys.argv[1:]:\n\
        \x20   s = ort.InferenceSession(p, providers=['CPUExecutionProvider'])\n\
        \x20   outs.append(dict(zip([o.name for o in s.get_outputs()], s.run(None, {'x': x}))))\n\
        v = x.copy(); ms = []\n\
        for _ in range(3):\n\
        \x20   ms.append(v * 1.5); v = np.maximum(v * 1.5 - 1, 0)\n\
        print(outs[0]['body::m'].shape, bool(np.allclose(outs[0]['body::m'], np.stack(ms))), bool(np.allclose(outs[0]['y'], v)), bool(np.allclose(outs[1]['y'], v, atol=1e-2)), bool(np.allclose(outs[1]['body::m'], np.stack(ms), atol=1e-2)))";
    let out = Command::new(fixtures::env::python())
        .args(["-c", script, a.to_str().unwrap(), b.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "(3, 2, 3) True True True True");
}
