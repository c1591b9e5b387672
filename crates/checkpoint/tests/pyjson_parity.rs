//! `python_float_repr` against a table printed by CPython 3.11's `json.dumps`.

use orbax_checkpoint::pyjson::python_float_repr;

#[test]
fn matches_cpython_on_600_values() {
    let table = include_str!("data/python_float_repr.txt");
    let mut checked = 0;
    for line in table.lines().filter(|l| !l.starts_with('#')) {
        let (bits, want) = line.split_once(' ').unwrap();
        let value = f64::from_bits(u64::from_str_radix(bits, 16).unwrap());
        assert_eq!(python_float_repr(value), want, "bits {bits}");
        checked += 1;
    }
    assert_eq!(checked, 600);
}
