//! The MostPods kernel: score the rows to score by how many pods their node already runs.
//!
//! `most_pods` is plain Rust over slices (unit-tested with `cargo test`); the `#[pyfunction]`
//! reads the node matrix's int64 columns through the buffer protocol (PyBuffer::to_vec, a
//! safe copy of O(rows) — far cheaper than one Python call per node).

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// The score of each row: 100 * pods on its node / the most pods on any of `rows`' nodes
/// (0 everywhere when every node is empty). A row outside `counts` is an error.
pub fn most_pods(counts: &[i64], rows: &[i64]) -> Result<Vec<i64>, String> {
    let mut picked = Vec::with_capacity(rows.len());
    let mut most = 0i64;
    for &row in rows {
        let count = usize::try_from(row)
            .ok()
            .and_then(|r| counts.get(r))
            .copied()
            .ok_or_else(|| format!("row {row} is outside the matrix ({} rows)", counts.len()))?;
        most = most.max(count);
        picked.push(count);
    }
    if most <= 0 {
        return Ok(vec![0; rows.len()]);
    }
    Ok(picked.into_iter().map(|c| c.max(0) * 100 / most).collect())
}


/// score_most_pods(pod_count: int64 array, rows: int64 array) -> list[int]
#[pyfunction]
fn score_most_pods(
    py: Python<'_>,
    pod_count: &Bound<'_, PyAny>,
    rows: &Bound<'_, PyAny>,
) -> PyResult<Vec<i64>> {
    // PyBuffer::<i64>::get refuses anything that is not an int64 buffer (a TypeError).
    let counts = PyBuffer::<i64>::get(pod_count)?.to_vec(py)?;
    let rows = PyBuffer::<i64>::get(rows)?.to_vec(py)?;
    most_pods(&counts, &rows).map_err(PyValueError::new_err)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(score_most_pods, m)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::most_pods;

    #[test]
    fn scales_to_the_fullest_node() {
        assert_eq!(most_pods(&[0, 2, 4], &[0, 1, 2]).unwrap(), vec![0, 50, 100]);
        assert_eq!(most_pods(&[0, 2, 4], &[1]).unwrap(), vec![100]);
        assert_eq!(most_pods(&[0, 0], &[0, 1]).unwrap(), vec![0, 0]);
        assert!(most_pods(&[1], &[3]).is_err());
        assert!(most_pods(&[1], &[-1]).is_err());
    }
}
