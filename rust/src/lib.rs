//! `kube._rust`: the Rust kernels of the kube package, one module per kernel.
//!
//! Python code never imports this module directly: `kube.native` (the dispatch point) picks
//! each kernel from here or from its pure-Python reference. Each kernel keeps its logic in plain
//! Rust (unit-tested with `cargo test`) and adds a thin `#[pyfunction]` layer on top.
//! The typed surface is `src/kube/_rust.pyi`; keep it in step with the functions added here.

use pyo3::prelude::*;

pub mod envelope;
pub mod proto_schema;
pub mod protobuf;

#[pymodule]
fn _rust(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(envelope::decode_envelope, m)?)?;
    m.add_function(wrap_pyfunction!(envelope::encode_envelope, m)?)?;
    m.add_function(wrap_pyfunction!(protobuf::decode_object, m)?)?;
    m.add_function(wrap_pyfunction!(protobuf::encode_object, m)?)?;
    Ok(())
}
