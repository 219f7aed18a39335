"""Per-exit costs from every accepted source: what is read, and one exact error line for what is
not (through `load_costs` and `validate_costs`, and a few through `eenet schedule`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eenet.cost_inputs import load_costs
from eenet.costs import COST_MAX, COST_MIN, validate_costs
from eenet.errors import ArtifactError, ConfigError
from eenet.latency_import import load_latency_table
from eenet.latency_table import load_latency, save_latency
from tests.conftest import saved_split_pair

COLUMN = "expected one cumulative ms value per line"
NOT_TEXT = "not a UTF-8 text file; expected a one-column CSV of cumulative ms"
CSV_WANTED = "a .json latency table or a one-column .csv file"
CSV_DIRECTORY = f"is a directory; give {CSV_WANTED}"


def _write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


# ---------------------------------------------------------------- valid files


VALID_FILES: list[tuple[str, str | bytes]] = [
    ("seconds.csv", "2.31\n4.15\n4.93\n"),
    ("header.csv", "ms\n2.31\n4.15\n4.93"),
    ("bom.csv", "\ufeff2.31\n4.15\n4.93\n".encode()),
    ("bom_header.csv", "\ufeffms\n2.31\n4.15\n4.93\n".encode()),
    ("windows.csv", b"2.31\r\n4.15\r\n\r\n4.93\r\n"),
    ("blank_lines.txt", "\n\nms\n\n2.31\n  \n4.15\n4.93\n\n"),
    ("seconds", "2.31\n4.15\n4.93\n"),  # the authors' file, without a suffix
]


@pytest.mark.parametrize(("name", "content"), VALID_FILES, ids=[f[0] for f in VALID_FILES])
def test_one_column_csv_is_read(tmp_path: Path, name: str, content: str | bytes) -> None:
    costs = load_costs(_write(tmp_path / name, content))
    assert costs.dtype == np.float64
    assert costs.tolist() == [2.31, 4.15, 4.93]


@pytest.mark.parametrize("header", ["s", "Seconds", "sec"])
def test_a_seconds_header_is_converted_to_ms(tmp_path: Path, header: str) -> None:
    """The CLI reads a unit header as the profile's table import does: seconds become ms."""
    costs = load_costs(_write(tmp_path / "costs.csv", f"{header}\n0.00231\n0.00415\n0.00493\n"))
    np.testing.assert_allclose(costs, [2.31, 4.15, 4.93], rtol=1e-12)


@pytest.mark.parametrize(("header", "unit", "want"), [
    ("s", "s", [0.00231, 0.00415, 0.00493]),
    ("seconds", "sec", [0.00231, 0.00415, 0.00493]),
    ("ms", "s", [2.31e-6, 4.15e-6, 4.93e-6]),
    ("cost", "MFLOPs", [0.00231, 0.00415, 0.00493]),  # a column name: the values as they are
    # microseconds and nanoseconds were column names: the values taken as ms, 1000x too large
    ("us", "ms", [2.31e-6, 4.15e-6, 4.93e-6]),
    ("\u00b5s", "ms", [2.31e-6, 4.15e-6, 4.93e-6]),
    ("ns", "us", [2.31e-6, 4.15e-6, 4.93e-6]),
    ("ms", "us", [2.31, 4.15, 4.93]),  # was refused: "'us', which names no time"
])
def test_a_time_header_is_converted_to_the_cost_unit(tmp_path: Path, header: str, unit: str,
                                                     want: list[float]) -> None:
    """Costs asked for in seconds (`--cost-unit s`) from a CSV whose header says seconds stay
    seconds; they were converted to ms and then labelled seconds, 1000x too large."""
    path = _write(tmp_path / "costs.csv", f"{header}\n0.00231\n0.00415\n0.00493\n")
    np.testing.assert_allclose(load_costs(path, unit=unit), want, rtol=1e-12)


@pytest.mark.parametrize(("header", "unit", "value"), [
    ("s", "s", 0.00071), ("seconds", "sec", 0.00071), ("us", "us", 0.123), ("ns", "ns", 0.061)])
def test_a_time_header_in_the_cost_unit_keeps_its_values_exactly(tmp_path: Path, header: str,
                                                                 unit: str, value: float) -> None:
    """`--cost-unit s` on a file headed `s` keeps its values (docs/schedulers.md): they were
    converted there and back (0.00071 * 1000 / 1000 is 0.0007099999999999999)."""
    path = _write(tmp_path / "costs.csv", f"{header}\n{value!r}\n1.5\n")
    assert load_costs(path, unit=unit).tolist() == [value, 1.5]


@pytest.mark.parametrize(("header", "unit", "want"), [
    # a header naming its unit last was a column name: seconds taken as ms, 1000x too small
    ("latency (s)", "ms", [2.31, 4.15, 4.93]),
    ("Time [ms]", "ms", [0.00231, 0.00415, 0.00493]),
    ("cost_us", "ms", [2.31e-6, 4.15e-6, 4.93e-6]),
    ("cumulative_ms", "s", [2.31e-6, 4.15e-6, 4.93e-6]),
    ("time / s", "ms", [2.31, 4.15, 4.93]),
    ("latency(\u00b5s)", "ms", [2.31e-6, 4.15e-6, 4.93e-6]),
    ("time in seconds", "ms", [2.31, 4.15, 4.93]),
    # a column name that names no time, or the values' own unit elsewhere: values as they are
    ("exit's cost", "ms", [0.00231, 0.00415, 0.00493]),
    ("ms per sample", "ms", [0.00231, 0.00415, 0.00493]),
    ("GFLOPs", "MFLOPs", [0.00231, 0.00415, 0.00493]),
])
def test_a_header_naming_its_unit_last_is_converted(tmp_path: Path, header: str, unit: str,
                                                    want: list[float]) -> None:
    path = _write(tmp_path / "costs.csv", f"{header}\n0.00231\n0.00415\n0.00493\n")
    np.testing.assert_allclose(load_costs(path, unit=unit), want, rtol=1e-12)


@pytest.mark.parametrize(("header", "unit", "word", "short"), [
    ("second exit first", "ms", "second", "s"),
    ("ms per s", "ms", "s", "s"),
    ("latency (1e-3 s)", "ms", "s", "s"),
    ("ms per sample", "s", "ms", "ms"),
])
def test_a_header_mentioning_another_time_is_one_line(tmp_path: Path, header: str, unit: str,
                                                      word: str, short: str) -> None:
    """A header that mentions a time but names no one unit (a time word elsewhere than last,
    beside another time or a number) was a column name, its values read in the cost unit:
    where the time it mentions is another, that is an error, not values 1000x off."""
    path = _write(tmp_path / "costs.csv", f"{header}\n0.001\n0.002\n")
    with pytest.raises(ConfigError) as err:
        load_costs(path, "--costs", unit)
    assert str(err.value) == (
        f"--costs: {path}: its header {header!r} mentions {word!r}, a time, but names no one "
        f"unit (alone, or last with no other time nor number: '{short}', 'latency ({short})'), "
        f"and as a column name it would leave the values in {unit}; write the header so, or "
        "drop it")


@pytest.mark.parametrize(("header", "unit", "word"), [
    ("minutes", "ms", "minutes"),
    ("min", "ms", "min"),
    ("time (min)", "ms", "min"),
    ("Latency (min)", "s", "min"),
    ("h", "ms", "h"),
    ("s per min", "s", "min"),
])
def test_a_header_naming_minutes_or_hours_is_one_line(tmp_path: Path, header: str, unit: str,
                                                      word: str) -> None:
    """Minutes and hours are no unit costs are read in: such a header was a column name, its
    values read in the cost unit (minutes taken as ms, 60000x off); docs/schedulers.md says a
    header mentioning another time is an error, and now it is."""
    path = _write(tmp_path / "costs.csv", f"{header}\n0.001\n0.002\n")
    with pytest.raises(ConfigError) as err:
        load_costs(path, "--costs", unit)
    assert str(err.value) == (
        f"--costs: {path}: its header {header.lower()!r} mentions {word!r}, a time costs are "
        "not read in (s, ms, us or ns); give the values in one of those under a header naming "
        f"it ('s', 'latency (s)'), or drop the header if they are in {unit}")


@pytest.mark.parametrize("header", ["hours", "time (min)"])
def test_minutes_or_hours_with_a_cost_unit_that_is_no_time_are_one_line(tmp_path: Path,
                                                                        header: str) -> None:
    """With `--cost-unit MFLOPs` such a header was told to give the values in s, ms, us or
    ns, which that unit then refuses."""
    path = _write(tmp_path / "costs.csv", f"{header}\n0.001\n0.002\n")
    with pytest.raises(ConfigError) as err:
        load_costs(path, "--costs", "MFLOPs")
    word = header.split()[-1].strip("()")
    assert str(err.value) == (
        f"--costs: {path}: its header {header!r} mentions {word!r}, a time, but the cost unit "
        "is 'MFLOPs', which names no time; drop the header if the values are in MFLOPs (times "
        "are read in s, ms, us or ns, with a cost unit naming one)")


@pytest.mark.parametrize(("unit", "named"), [
    ("min", "minutes (a minute is 60 s)"), ("hours", "hours (an hour is 3600 s)"),
    ("H", "hours (an hour is 3600 s)")])
@pytest.mark.parametrize("content", ["s\n0.001\n0.002\n", "ms\n1\n2\n", "1\n2\n", None])
def test_a_cost_unit_of_minutes_or_hours_is_one_line(tmp_path: Path, unit: str, named: str,
                                                     content: str | None) -> None:
    """Costs are not read in minutes or hours (nor are CSV headers naming them): such a cost
    unit was taken for one that names no time, so a header 's' was said to give "'min', which
    names no time", and a comma list was labelled minutes."""
    spec = "1,2,3" if content is None else _write(tmp_path / "costs.csv", content)
    with pytest.raises(ConfigError) as err:
        load_costs(spec, "--costs", unit)
    assert str(err.value) == (
        f"unit: {unit!r} names {named}, a time costs are not read in; give the costs in s, ms, "
        "us or ns, or in a unit that is no time, such as MFLOPs")


@pytest.mark.parametrize(("header", "unit"), [
    ("cost", "ms"), ("MFLOPs", "MFLOPs"), ("latency", "ms"), ("exit", "ms"), ("mem", "ms"),
])
def test_a_header_naming_no_other_time_keeps_its_values(tmp_path: Path, header: str,
                                                        unit: str) -> None:
    path = _write(tmp_path / "costs.csv", f"{header}\n0.001\n0.002\n")
    assert load_costs(path, "--costs", unit).tolist() == [0.001, 0.002]


@pytest.mark.parametrize(("spec", "content", "message"), [
    ("costs.csv", "1,5\n2,5\n", "line 1: '1,5' has 2 fields (decimal comma? write 1.5); "
                                "expected one cumulative MFLOPs value per line"),
    ("costs.csv", "1.0\n2.0\n".encode("utf-16"),
     "not a UTF-8 text file; expected a one-column CSV of cumulative MFLOPs"),
    ("missing", None, "is neither a .json/.csv file nor a comma list of MFLOPs values"),
])
def test_cost_errors_say_the_cost_unit(tmp_path: Path, spec: str, content: str | bytes | None,
                                       message: str) -> None:
    """Errors on a costs CSV or a comma list said ms whatever `--cost-unit` was."""
    path = tmp_path / spec
    if content is not None:
        _write(path, content)
    with pytest.raises((ArtifactError, ConfigError)) as err:
        load_costs(path, "--costs", "MFLOPs")
    shown = f"{path}:" if content is not None else f"{str(path)!r}"
    assert str(err.value) == f"--costs: {shown} {message}"


def test_a_special_file_is_no_costs_file(tmp_path: Path) -> None:
    """`--costs /dev/null` said it was neither a file nor a comma list."""
    with pytest.raises(ArtifactError) as err:
        load_costs("/dev/null", "--costs")
    assert str(err.value) == (f"--costs: /dev/null: not a regular file (a device, pipe or "
                              f"socket); give {CSV_WANTED}")


@pytest.mark.parametrize("header", ["s", "latency (s)"])
def test_a_time_header_with_a_cost_unit_that_is_no_time_is_one_line(tmp_path: Path,
                                                                     header: str) -> None:
    path = _write(tmp_path / "costs.csv", f"{header}\n0.001\n0.002\n")
    with pytest.raises(ConfigError, match=r"^--costs: .*costs.csv: its header says the costs are "
                       r"in 's', a time, but the cost unit is 'MFLOPs'"):
        load_costs(path, "--costs", "MFLOPs")


def test_a_comma_list_wins_over_a_file_of_that_name(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "1,2", "5\n6\n")
    assert load_costs("1,2").tolist() == [1.0, 2.0]


def test_valid_costs_keep_their_float64_values() -> None:
    for given in ([1, 2.5, 3], (1.0, 2.0), np.array([1, 2], dtype=np.int32),
                  [np.float32(0.5), np.float64(1.5), np.int64(2)]):
        got = validate_costs(given)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, np.asarray(given, dtype=np.float64))


# ---------------------------------------------------------------- bad CSV files


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("1,5\n2,5\n4,5\n", f"line 1: '1,5' has 2 fields (decimal comma? write 1.5); {COLUMN}"),
        ("ms\n2.31\n4,15\n", f"line 3: '4,15' has 2 fields (decimal comma? write 4.15); {COLUMN}"),
        ("exit,ms\n0,1.0\n1,2.0\n2,4.0", f"line 1: 'exit,ms' has 2 fields; {COLUMN}"),
        ("0,1.0\n1,2.0\n", f"line 1: '0,1.0' has 2 fields; {COLUMN}"),
        ("1.0\n2.0;3.0,4.0\n", f"line 2: '2.0;3.0,4.0' has 2 fields; {COLUMN}"),
        ("ms\nms\n1.0\n", "line 2: not a number: 'ms'"),
        ("\n1.0\ntotal\n", "line 3: not a number: 'total'"),
        # a mistyped first number was taken for a header: the first exit's cost dropped
        ("1.O\n2\n4\n8\n", "line 1: not a number: '1.O'"),
        ("0x1\n2\n4\n", "line 1: not a number: '0x1'"),
        ("1\n2_0\n30\n", "line 2: not a number: '2_0'"),
        ("", "no cumulative costs given; expected one number per exit"),
        ("ms\n", "no cumulative costs given; expected one number per exit"),
        ("1;2;3\n", "line 1: '1;2;3' holds several numbers; expected one cumulative cost per "
                    "line (a one-column CSV)"),
        ("0.5 1.0 2.0", "line 1: '0.5 1.0 2.0' holds several numbers; expected one cumulative "
                        "cost per line (a one-column CSV)"),
    ],
    ids=["decimal commas", "decimal comma after a header", "two columns with a header",
         "two columns", "three values", "second header", "text after a value",
         "mistyped first number", "hexadecimal first number", "digit grouping", "empty",
         "header only", "semicolons on one line", "spaces on one line"],
)
def test_bad_csv_is_one_line_naming_file_and_line(tmp_path: Path, content: str,
                                                  message: str) -> None:
    path = _write(tmp_path / "costs.csv", content)
    with pytest.raises(ArtifactError) as err:
        load_costs(path)
    assert str(err.value) == f"{path}: {message}"


@pytest.mark.parametrize(
    "content",
    ["1.0\n2.0\n".encode("utf-16"), "1.0\n2.0\n".encode("utf-16-le"), b"\x93NUMPY\x01\x00\xff"],
    ids=["utf-16", "utf-16 without a byte-order mark", "binary"],
)
def test_non_utf8_file_is_one_line(tmp_path: Path, content: bytes) -> None:
    for name in ("costs.csv", "seconds"):
        path = _write(tmp_path / name, content)
        with pytest.raises(ArtifactError) as err:
            load_costs(path)
        assert str(err.value) == f"{path}: {NOT_TEXT}"


@pytest.mark.parametrize("name", ["costs.csv", "seconds", "latency.json"])
def test_directory_is_one_line(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.mkdir()
    wanted = "a latency .json file" if name.endswith(".json") else CSV_WANTED
    with pytest.raises(ArtifactError) as err:
        load_costs(path)
    assert str(err.value) == f"{path}: is a directory; give {wanted}"


def test_neither_file_nor_list_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_costs(str(tmp_path / "missing"))
    assert str(err.value) == (
        f"costs: {str(tmp_path / 'missing')!r} is neither a .json/.csv file nor a comma list "
        "of ms values"
    )


# ---------------------------------------------------------------- bad JSON and lists


@pytest.mark.parametrize(
    ("cumulative_ms", "shown"),
    [
        ('{"a": 1}', 'a list of numbers (ms per exit), got {"a": 1}'),
        ('"1,2,3"', 'a list of numbers (ms per exit), got "1,2,3"'),
        ("null", "a list of numbers (ms per exit), got null"),
        ("[1.0, null, 3.0]", "numbers (ms per exit), got null at index 1"),
        ("[true, 2.0, 3.0]", "numbers (ms per exit), got true at index 0"),
        ('[1.0, "2.0", 3.0]', 'numbers (ms per exit), got "2.0" at index 1'),
        ("[[1.0], [2.0]]", "numbers (ms per exit), got [1.0] at index 0"),
        ('[{"ms": 1.0}]', 'numbers (ms per exit), got {"ms": 1.0} at index 0'),
    ],
)
def test_non_numeric_json_costs_are_one_line(tmp_path: Path, cumulative_ms: str,
                                             shown: str) -> None:
    path = _write(tmp_path / "latency.json", f'{{"cumulative_ms": {cumulative_ms}}}')
    with pytest.raises(ArtifactError) as err:
        load_costs(path)
    assert str(err.value) == f"{path}: cumulative costs must be {shown}"


@pytest.mark.parametrize(("fields", "problem"), [
    ('"threads": "x"', "threads: must be an integer from 1 to 1024 or null, got 'x'"),
    ('"threads": {"a": 1}', "threads: must be an integer from 1 to 1024 or null, got {'a': 1}"),
    ('"batch_size": 0', "batch_size: must be an integer >= 1 or null, got 0"),
    ('"batch_size": [1]', "batch_size: must be an integer >= 1 or null, got [1]"),
    ('"batch_size": 1e300', "batch_size: must be an integer >= 1 or null, got 1e+300"),
    ('"device": {"a": 1}', "device: must be a device name such as cpu or cuda (at most 64 "
     "characters), or null, got {'a': 1}"),
    ('"device": ""', "device: must be a device name such as cpu or cuda (at most 64 "
     "characters), or null, got ''"),
])
def test_latency_json_timing_fields_are_checked(tmp_path: Path, fields: str,
                                                problem: str) -> None:
    """A latency JSON given as costs had its batch size, threads and device taken unchecked:
    `eenet schedule --save` copied them into its index, and `eenet predict` then printed
    "profiled at x threads"."""
    path = _write(tmp_path / "latency.json", f'{{"cumulative_ms": [1, 2, 3], {fields}}}')
    with pytest.raises(ArtifactError) as err:
        load_costs(path)
    assert str(err.value) == f"{path}: {problem}; fix the table"


@pytest.mark.parametrize("spec", ["", " ", ",", " , "])
def test_empty_comma_list_says_no_costs(spec: str) -> None:
    with pytest.raises(ArtifactError) as err:
        load_costs(spec)
    assert str(err.value) == "costs: no cumulative costs given; expected one number per exit"


def test_validate_costs_rejects_bools_and_other_shapes() -> None:
    cases = [
        ([1.0, True], "costs: cumulative costs must be numbers (ms per exit), got true at "
                      "index 1"),
        (np.array([True, False]), "costs: cumulative costs must be a list of numbers (ms per "
                                  "exit), got array([ True, False])"),
        (np.ones((2, 2)), "costs: cumulative costs must be a flat list of numbers, got shape "
                          "(2, 2)"),
        (np.array([]), "costs: no cumulative costs given; expected one number per exit"),
    ]
    for costs, message in cases:
        with pytest.raises(ArtifactError) as err:
            validate_costs(costs)
        assert str(err.value) == message
    with pytest.raises(ArtifactError, match=r"must be numbers \(ms per exit\), got .+ at index 0"):
        validate_costs([np.bool_(True), 2.0])


def test_costs_bounded_so_their_means_stay_finite(tmp_path) -> None:
    """Up to COST_MAX a cost is taken (the mean over many samples stays finite); above it,
    e.g. near float64's maximum where the mean overflowed to inf, it is a one-line error."""
    n = 10**6
    top = validate_costs([1.0, COST_MAX])
    assert np.isfinite(np.full(n, top[-1]).mean())
    with pytest.raises(ArtifactError) as err:
        validate_costs([1.0, 1.001e250])
    assert str(err.value).startswith("costs: cumulative costs must be finite, from 1e-100 to "
                                     "1e+250, got [1.0, 1.001e+250]")
    with pytest.raises(ArtifactError) as err:  # a Python int beyond float64: an OverflowError
        validate_costs([1.0, 10**400])
    assert str(err.value).startswith("costs: cumulative costs must be finite, from 1e-100 to "
                                     "1e+250, got [1.0, 1000")
    seconds = Path(tmp_path) / "seconds.csv"
    seconds.write_text("s\n1e246\n5e246\n2e247\n")  # within the bound as written, not in ms
    with pytest.raises(ArtifactError) as err:
        load_costs(seconds)
    assert str(err.value).startswith(f"{seconds} (its values in 's', converted to ms): "
                                     "cumulative costs must be finite, from 1e-100 to 1e+250")
    with pytest.raises(ArtifactError) as err:  # profile.table converts through the same helper
        load_latency_table(seconds)
    assert str(err.value).startswith(f"profile.table: {seconds} (its values in 's', converted "
                                     "to ms): cumulative costs must be finite, from 1e-100 to")
    # float64's subnormals lost their digits: a mean cost of 4.9e-324 planned for 9.9e-324
    assert validate_costs([COST_MIN, 2 * COST_MIN]).tolist() == [COST_MIN, 2 * COST_MIN]
    with pytest.raises(ArtifactError, match=r"^costs: cumulative costs must be finite, from "
                                            r"1e-100 to 1e\+250, got \[5e-324, 1e-323\]$"):
        validate_costs([5e-324, 1e-323])
    seconds.write_text("s\n3\n2\n")  # any other fault is shown in the file's own numbers
    with pytest.raises(ArtifactError) as err:
        load_costs(seconds)
    assert str(err.value) == (f"{seconds}: cumulative costs must be strictly increasing, "
                              "got [3.0, 2.0]")
    with pytest.raises(ArtifactError) as err:
        load_latency_table(seconds)
    assert str(err.value) == (f"profile.table: {seconds}: cumulative costs must be strictly "
                              "increasing, got [3.0, 2.0]")
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.full(n, 1.7e308).mean())  # what the bound prevents


# ---------------------------------------------------------------- through `eenet schedule`


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cost_inputs")
    saved_split_pair(root, 10, 200, 200, seed=4)
    return root


def _schedule(outputs: Path, costs: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "eenet.cli", "schedule", "--val", str(outputs / "val.npz"),
         "--test", str(outputs / "test.npz"), "--costs", costs, "--method", "maxprob",
         "--budgets", "2.0", "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_authors_seconds_file_without_suffix_and_with_bom(outputs: Path, tmp_path: Path) -> None:
    path = _write(tmp_path / "seconds", "\ufeff1.0\r\n2.0\r\n3.0\r\n".encode())
    proc = _schedule(outputs, str(path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("[")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("seconds.csv", "1,5\n2,5\n3,5\n",
         f"line 1: '1,5' has 2 fields (decimal comma? write 1.5); {COLUMN}"),
        ("seconds.csv", "1.0\n2.0\n3.0\n".encode("utf-16"), NOT_TEXT),
        ("latency.json", '{"cumulative_ms": {"a": 1}}',
         'cumulative costs must be a list of numbers (ms per exit), got {"a": 1}'),
        ("folder", None, CSV_DIRECTORY),
        # copied by --save into every policy, which `eenet predict` then failed on (traceback)
        ("latency.json", '{"cumulative_ms": [1, 2, 3], "model": {"name": 5, "options": "x"}}',
         "model.options must be a JSON object (the model's builder options), got \"x\"; "
         "fix the table"),  # a user's file: rerunning profile would not mend it
        # saved into the policies, whose `eenet predict` then refused every model ("None
        # classes")
        ("latency.json", '{"cumulative_ms": [1, 2, 3], "model": {"name": "resnet1d_3", '
         '"options": {}}}', "model.num_classes must be the model's class count (an integer "
         ">= 2), got null; fix the table"),
        ("latency.json", '{"cumulative_ms": [1, 2, 3], "model": {"num_classes": 10}}',
         "model.name must be the model's name (a non-empty string), got null; fix the table"),
    ],
    ids=["decimal commas", "utf-16", "costs as a mapping", "directory", "model options text",
         "model without classes", "model without name"],
)
def test_schedule_prints_one_line(outputs: Path, tmp_path: Path, name: str,
                                  content: str | bytes | None, message: str) -> None:
    path = tmp_path / name
    if content is None:
        path.mkdir()
    else:
        _write(path, content)
    proc = _schedule(outputs, str(path))
    assert proc.returncode == 2 and proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [f"eenet schedule: error: --costs: {path}: {message}"]


def test_schedule_save_refuses_a_latency_json_with_bad_threads(outputs: Path,
                                                               tmp_path: Path) -> None:
    """`--save` copied a latency JSON's unchecked `threads` into its index ("profiled at x
    threads" in `eenet predict`); now refused in one line before anything is fitted."""
    path = _write(tmp_path / "lm.json", '{"cumulative_ms": [1, 2, 3], "threads": "x"}')
    proc = subprocess.run(
        [sys.executable, "-m", "eenet.cli", "schedule", "--val", str(outputs / "val.npz"),
         "--test", str(outputs / "test.npz"), "--costs", str(path), "--method", "maxprob",
         "--budgets", "2.0", "--save", str(tmp_path / "fitted")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"eenet schedule: error: --costs: {path}: threads: must be an integer from 1 to 1024 "
        "or null, got 'x'; fix the table"
    ]
    assert not (tmp_path / "fitted").exists()


def test_schedule_seconds_csv_with_cost_unit_seconds(outputs: Path, tmp_path: Path) -> None:
    """`--cost-unit s` on a CSV headed 's': budgets in seconds are feasible and every cost is
    reported in seconds (the costs were read as ms: 0.002 s was 'below the first exit')."""
    path = _write(tmp_path / "seconds.csv", "s\n0.001\n0.002\n0.003\n")
    proc = subprocess.run(
        [sys.executable, "-m", "eenet.cli", "schedule", "--val", str(outputs / "val.npz"),
         "--test", str(outputs / "test.npz"), "--costs", str(path), "--method", "maxprob",
         "--budgets", "0.002", "--cost-unit", "s", "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["budget"] == 0.002 and row["cost_unit"] == "s"
    assert 0.001 <= row["val_cost"] <= 0.002 * 1.001


def test_schedule_empty_costs_list_is_one_line(outputs: Path) -> None:
    proc = _schedule(outputs, "")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [
        "eenet schedule: error: --costs: no cumulative costs given; expected one number per exit"
    ]


def test_a_latency_json_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    """Editors on Windows save JSON with a UTF-8 BOM; it is read like any other."""
    path = _write(tmp_path / "latency.json", '\ufeff{"cumulative_ms": [1.0, 2.5]}'.encode())
    assert load_costs(path).tolist() == [1.0, 2.5]


def test_latency_and_measurement_tables_are_written_without_float_sum_noise(
        tmp_path: Path) -> None:
    """A median of two timings or a difference of two (0.35789950000000004 ms in a committed
    latency.json) is written at 12 significant digits, as every float of the scoring and real
    latency tables (`write_json(tidy=True)`); integers, flags, text and NaN as they are."""
    from eenet.jsonio import write_json

    path = tmp_path / "latency.json"
    noisy = [0.198013, (0.357899 + 0.3579) / 2, 0.6156915000000001]
    assert repr(noisy[1]) == "0.35789950000000004"
    save_latency(path, {"cumulative_ms": np.array(noisy), "p90_ms": [0.1 + 0.2, 1.0, 2.0],
                        "flops": [34080, 85600, 906080], "batch_size": 1, "device": "cpu"})
    table = json.loads(path.read_text())
    assert table["cumulative_ms"] == [0.198013, 0.3578995, 0.6156915]
    assert table["p90_ms"] == [0.3, 1.0, 2.0] and table["flops"] == [34080, 85600, 906080]
    assert load_costs(path).tolist() == [0.198013, 0.3578995, 0.6156915]
    report = {"ratio": 1.0968764113972558, "n": 500, "ok": True, "gap": float("nan"),
              "methods": {"eenet": {"ms": [0.0352120005118195, np.float64(0.1) * 3]}}}
    write_json(tmp_path / "report.json", report, tidy=True)
    text = (tmp_path / "report.json").read_text()
    assert json.loads(text)["methods"]["eenet"]["ms"] == [0.0352120005118, 0.3]
    assert '"ratio": 1.0968764114,' in text and '"n": 500,' in text and '"ok": true' in text
    assert '"gap": NaN' in text


def test_save_latency_takes_numpy_and_checks_the_timing_fields(tmp_path: Path) -> None:
    """Numpy costs were a TypeError of json ("ndarray is not JSON serializable"), and a
    batch_size of 0 was written, to be refused only when the pipeline read it."""
    path = tmp_path / "latency.json"
    save_latency(path, {"cumulative_ms": np.array([1.0, 2.0]), "batch_size": np.int64(1),
                        "source": "numpy"})
    assert load_latency(path)["cumulative_ms"] == [1.0, 2.0]
    assert json.loads(path.read_text())["batch_size"] == 1
    with pytest.raises(ArtifactError, match="bad.json: batch_size: must be an integer >= 1 or "
                                            "null, got 0; fix the table$"):
        save_latency(tmp_path / "bad.json", {"cumulative_ms": [1.0, 2.0], "batch_size": 0})
    with pytest.raises(ArtifactError, match="^.*bad.json: a latency table is a dict with "
                                            "cumulative_ms, got list$"):
        save_latency(tmp_path / "bad.json", [1.0, 2.0])
    assert not (tmp_path / "bad.json").exists()
