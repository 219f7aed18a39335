"""Latency tables measured elsewhere (`profile.table`) and the import stage's record of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eenet.errors import ArtifactError, ConfigError
from eenet.latency_import import (
    import_record,
    load_import,
    load_latency_table,
    save_import,
    unwatched_table_note,
)
from eenet.latency_table import save_latency

# a table as a profile run writes it (the fields a CSV lacks included)
MEASURED = {"cumulative_ms": [0.2, 0.35, 0.61], "p50_ms": [0.2, 0.35, 0.61],
            "p90_ms": [0.25, 0.4, 0.7], "flops": [1000, 2500, 6000], "device": "cpu",
            "batch_size": 1, "threads": 1, "source": "measured"}


def test_import_json_table_records_its_path(tmp_path) -> None:
    path = save_latency(tmp_path / "target.json", dict(MEASURED))
    imported = load_latency_table(path)
    assert imported["cumulative_ms"] == pytest.approx(MEASURED["cumulative_ms"])
    assert imported["source"] == str(path)
    assert imported["measured_as"] == "measured"
    assert imported["flops"] == MEASURED["flops"]


def test_import_authors_seconds_csv_as_ms(tmp_path) -> None:
    path = tmp_path / "seconds.csv"
    path.write_text("2.31\n4.15\n4.93")  # the authors' ResNet-56 / CIFAR-10 file
    imported = load_latency_table(path)
    assert imported["cumulative_ms"] == [2.31, 4.15, 4.93]
    assert imported["source"] == str(path)
    assert imported["device"] is None


def test_import_csv_in_seconds(tmp_path) -> None:
    path = tmp_path / "costs.csv"
    path.write_text("seconds\n0.0021\n0.004\n")
    assert load_latency_table(path)["cumulative_ms"] == pytest.approx([2.1, 4.0])
    plain = tmp_path / "plain.csv"
    plain.write_text("0.5\n1.5\n")
    assert load_latency_table(plain, unit="s")["cumulative_ms"] == pytest.approx([500, 1500])
    micro = tmp_path / "micro.csv"  # was "unknown unit 'us'; use 'ms' or 's'"
    micro.write_text("us\n2100\n4000\n")
    assert load_latency_table(micro)["cumulative_ms"] == pytest.approx([2.1, 4.0])
    wide = tmp_path / "wide.csv"  # its line errors said ms whatever the unit
    wide.write_text("0.5\n1.5,2\n")
    with pytest.raises(ArtifactError, match="expected one cumulative s value per line$"):
        load_latency_table(wide, unit="s")
    # an explicit unit that is no latency's names `unit` (minutes were told to use a time
    # unit as the header, as if the file's header were wrong)
    for unit, why in (("min", "'min' names minutes (a minute is 60 s), a time latencies are "
                                "not read in"), ("MFLOPs", "unknown unit 'MFLOPs'"),
                      (5, "unknown unit 5")):
        with pytest.raises(ConfigError) as err:
            load_latency_table(plain, unit=unit)
        assert str(err.value) == f"unit: {why}; give unit as s, ms, us or ns"
    named = tmp_path / "named.csv"  # was "unknown unit 'latency (s)'", as `eenet schedule` reads it
    named.write_text("latency (s)\n0.0021\n0.004\n")
    assert load_latency_table(named)["cumulative_ms"] == pytest.approx([2.1, 4.0])


@pytest.mark.parametrize(
    ("name", "text", "error", "match"),
    [
        ("missing.csv", None, ArtifactError, "not found"),
        ("tables", None, ArtifactError, r"is a directory; give a latency table \(\.json or "
                                        r"one-column \.csv\) file$"),
        ("down.csv", "3\n2\n", ArtifactError, "strictly increasing"),
        ("bad.csv", "1\nfast\n", ArtifactError, "not a number"),
        ("unit.csv", "minutes\n1\n2\n", ConfigError, r"'minutes' names minutes \(a minute is "
         r"60 s\), a time latencies are not read in; use a time unit as the header"),
        ("tons.csv", "tons\n1\n2\n", ConfigError, "unknown unit 'tons'"),
        ("table.yaml", "a: 1\n", ConfigError, "expected a .json"),
        ("broken.json", "{", ArtifactError, "not valid JSON"),
        ("nokey.json", "{}", ArtifactError, "cumulative_ms"),
        # profile_scoring times at the table's batch size and threads: a bad one used to be
        # copied into artifacts/latency.json and refused only there, a stage later
        ("batch.json", '{"cumulative_ms": [1, 2], "batch_size": 0}', ArtifactError,
         r"batch_size: must be an integer >= 1 or null, got 0; fix the table$"),
        ("threads.json", '{"cumulative_ms": [1, 2], "threads": "two"}', ArtifactError,
         r"threads: must be an integer from 1 to 1024 or null, got 'two'; fix the table$"),
        ("model.json", '{"cumulative_ms": [1, 2], "model": 5}', ArtifactError,
         r"model must be a JSON object .*, got 5; fix the table$"),
        # the record is strict JSON: a NaN or infinity anywhere was json.dumps' traceback
        ("nan.json", '{"cumulative_ms": [1, 2], "p50_ms": [NaN, 1.5]}', ArtifactError,
         r"nan\.json: p50_ms\[0\]: must be a finite number \(no NaN or infinity\); fix the "
         r"table$"),
        ("inf.json", '{"cumulative_ms": [1, 2], "model": {"name": "resnet1d_3", '
         '"num_classes": 10, "options": {"p": -Infinity}}}',
         ArtifactError, r"inf\.json: model\.options\.p: must be a finite number"),
    ],
)
def test_bad_tables_are_one_line_errors(tmp_path, name, text, error, match) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    elif name == "tables":  # a folder given for the table: said so, not "not found"
        path.mkdir()
    with pytest.raises(error, match=match) as info:
        load_latency_table(path)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(f"profile.table: {path}")


def test_a_table_outside_the_watched_folder_gets_a_note(tmp_path, monkeypatch) -> None:
    """profile.table inside latency_tables/ (which dvc.yaml lists for import_latency) needs
    no note; one elsewhere is read, with a note that DVC does not see edits to it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "latency_tables").mkdir()
    assert unwatched_table_note("latency_tables/gpu.csv") is None
    assert unwatched_table_note(tmp_path / "latency_tables" / "sub" / "gpu.json") is None
    note = unwatched_table_note("elsewhere/gpu.csv")
    assert note == ("note: profile.table elsewhere/gpu.csv is outside latency_tables/, which "
                    "DVC watches: after editing it, run `dvc repro -f -s import_latency` then "
                    "`dvc repro` (or move it into latency_tables/)")
    assert unwatched_table_note("latency_tables/../gpu.csv") is not None
    assert unwatched_table_note("elsewhere/gpu.csv", Path("elsewhere")) is None


def test_a_table_imported_from_a_csv_is_told_from_a_measured_one(tmp_path: Path) -> None:
    """fit_headline asks whether costs are seconds only where they came from a CSV (which may
    hold seconds without its header), not for a measured profile."""
    from eenet.fitting import imported_from_csv

    (tmp_path / "t.csv").write_text("0.001\n0.002\n0.003\n")
    save_latency(tmp_path / "imported.json", load_latency_table(tmp_path / "t.csv"))
    save_latency(tmp_path / "measured.json", {"cumulative_ms": [1.0, 2.0, 3.0],
                                              "source": "measured"})
    assert imported_from_csv(tmp_path / "imported.json")
    assert not imported_from_csv(tmp_path / "measured.json")


# ---------------------------------------------------------------- the import stage's record


def test_the_record_holds_the_table_read_or_none(tmp_path) -> None:
    """No table: a record of none (profile measures). A table: what was read from it, the
    same on reading the record back as on reading the table itself."""
    save_import(tmp_path / "none.json", import_record(None))
    assert load_import(tmp_path / "none.json") is None
    table = tmp_path / "gpu.csv"
    table.write_text("ms\n0.1\n0.2\n0.4\n")
    save_import(tmp_path / "gpu.json", import_record(table))
    assert load_import(tmp_path / "gpu.json") == load_latency_table(table)
    assert json.loads((tmp_path / "gpu.json").read_text())["table"] == str(table)


def test_a_record_unchanged_by_what_the_table_does_not_say(tmp_path) -> None:
    """The record is written from what was read, not the file's bytes: a table rewritten
    with other spacing or a unit header of the same scale records the same, and so does a
    JSON table with its keys in another order, so profile (which depends on the record) does
    not rerun."""
    table = tmp_path / "gpu.csv"
    table.write_text("0.1\n0.2\n0.4\n")
    save_import(tmp_path / "a.json", import_record(table))
    table.write_text("ms\n 0.10\n0.2\n0.4\n\n")
    save_import(tmp_path / "b.json", import_record(table))
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    table = tmp_path / "gpu.json"
    records = []
    for order in (MEASURED, dict(reversed(MEASURED.items()))):
        table.write_text(json.dumps(order))
        save_import(tmp_path / "r.json", import_record(table))
        records.append((tmp_path / "r.json").read_bytes())
    assert records[0] == records[1]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{", "not valid JSON"),
        ('{"table": null}', r"missing latency"),
        ('{"table": "t.csv", "latency": null}', "a table path and its latency object"),
        ('{"table": "t.csv", "latency": {"cumulative_ms": [2, 1]}}', "strictly increasing"),
        ('{"table": "t.csv", "latency": {"cumulative_ms": [1, 2], "threads": 0}}',
         "threads: must be an integer"),
    ],
)
def test_a_bad_record_is_a_one_line_error_saying_to_rerun_the_stage(tmp_path, text,
                                                                    match) -> None:
    path = tmp_path / "imported_latency.json"
    path.write_text(text)
    with pytest.raises(ArtifactError, match=match) as info:
        load_import(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    assert message.endswith("; rerun import_latency")


def test_a_unit_contradicting_the_csv_header_is_refused(tmp_path) -> None:
    """A CSV whose header names its time unit, read with an explicit `unit` of another scale,
    is a one-line error: `unit` used to win, reading 'latency (s)' values of 2.1 ms as
    0.0021 ms and 'ms' values as seconds. A unit of the header's scale reads as the header."""
    named = tmp_path / "named.csv"
    named.write_text("latency (s)\n0.0021\n0.004\n")
    for unit in ("ms", "us"):
        with pytest.raises(ConfigError) as err:
            load_latency_table(named, unit=unit)
        assert str(err.value) == (f"profile.table: {named}: its header says the values are in "
                                  f"'s', but unit is {unit!r}; give unit as 's' (or none), or "
                                  "fix the header")
    assert load_latency_table(named, unit="seconds")["cumulative_ms"] == pytest.approx([2.1, 4])
    milli = tmp_path / "ms.csv"
    milli.write_text("ms\n2.1\n4.0\n")
    with pytest.raises(ConfigError, match=r"in 'ms', but unit is 's'"):
        load_latency_table(milli, unit="s")
    assert load_latency_table(milli, unit="ms")["cumulative_ms"] == pytest.approx([2.1, 4])


def test_costs_the_record_would_make_equal_are_refused_by_the_import(tmp_path) -> None:
    """The record keeps 12 significant digits: costs increasing only past them were accepted
    here and recorded equal, and profile then refused the record, saying to rerun this stage,
    which wrote the same record again. They are refused here, naming profile.table."""
    path = tmp_path / "close.csv"
    path.write_text("1.0000000000001\n1.00000000000011\n")
    assert load_latency_table(path)["cumulative_ms"] == [1.0000000000001, 1.00000000000011]
    with pytest.raises(ArtifactError) as err:
        import_record(path)
    assert str(err.value) == (f"profile.table: {path} (at 12 significant digits, as recorded): "
                              "cumulative costs must be strictly increasing, got [1.0, 1.0]")
    path.write_text("1.0000000000001\n1.01\n")  # apart at 12 digits: recorded, and read
    save_import(tmp_path / "record.json", import_record(path))
    assert load_import(tmp_path / "record.json")["cumulative_ms"] == [1.0, 1.01]
