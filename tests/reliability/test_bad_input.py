"""Bad-input corpus: every kind of broken file or row gets a clear message naming the file,
the row and the field, lands in dead letters (or stops the read at once, for a file that
cannot be read at all), and nothing is silently dropped.

The corpus is built in ``tmp_path`` from a valid synthetic dataset; each bad file or row is
derived from it, and the expectations come from how the corpus was built (which rows were
broken, how), never from the code under test.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook

from common.contract import REDSET_COLUMNS
from common.settings import Settings
from pipeline.experiment import run_experiment
from processors.logic.clean import clean_row
from producers.replay import MAX_ROW_BYTES, replay, safe_value
from producers.sources import SourceError, csv_batches, resolve, stage, xlsx_batches
from producers.synthetic import SyntheticSpec, generate, write, write_table
from tests.support.kafka_io import read_all
from warehouse.store import Warehouse

SPEC = SyntheticSpec(rows=60, seed=21, kind="mixed", clusters=3, days=1.0)
COL = {c: i for i, c in enumerate(REDSET_COLUMNS)}


# --- helpers ----------------------------------------------------------------------------
def _csv_lines(tmp_path: Path, spec: SyntheticSpec = SPEC) -> list[list[str]]:
    """Header + rows of a valid CSV as DuckDB COPY writes it, split into fields."""
    path = tmp_path / "valid.csv"
    write(spec, path)
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def _write_csv(path: Path, lines: list[list[str]], delimiter: str = ",") -> Path:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerows(lines)
    path.write_text(buf.getvalue())
    return path


def _staged(path: Path, encoding: str = "utf8") -> list[dict[str, Any]]:
    """The rows as the replay stages them (the real reader), in (file, row) order."""
    with duckdb.connect() as con:
        src = resolve(str(path), str(path.parent / "cache"), progress=False)
        rel = stage(con, src, encoding=encoding)
        cur = con.execute(f"SELECT * FROM ({rel}) ORDER BY _file, _row")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _errors(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {r["_row"]: json.loads(r["_error"]) for r in rows if r["_error"]}


def _assert_named(err: dict[str, Any], path: Path, row: int, field: str | None) -> None:
    assert str(path) in err["message"] and f"row {row}" in err["message"], err
    assert err["field"] == field, err
    if field:
        assert field in err["message"], err


def _dead(raw: dict[str, Any]) -> dict[str, Any]:
    res = clean_row(raw)
    assert res.dead is not None, raw
    return res.dead


# --- files the reader refuses at once, with one message naming the file ------------------
def _truncated_parquet(p: Path) -> None:
    write(SPEC, p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _semicolon_header_comma_rows(p: Path) -> None:
    lines = _csv_lines(p.parent)
    p.write_text(";".join(lines[0]) + "\n" + "\n".join(",".join(x) for x in lines[1:3]) + "\n")


def _latin1_header(p: Path) -> None:
    lines = _csv_lines(p.parent)
    lines[0][0] = "instance_id_é"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(lines)
    p.write_bytes(buf.getvalue().encode("latin-1"))


def _merged_header(p: Path) -> None:
    write(SPEC, p)
    wb = load_workbook(p)
    wb.active.merge_cells("M1:N1")  # cache_source_query_id + query_type headers
    wb.save(p)


@pytest.mark.parametrize(
    "name,make,needle",
    [
        ("missing.csv", None, "no such file"),
        ("empty.csv", lambda p: p.write_bytes(b""), "empty file"),
        ("blank.csv", lambda p: p.write_text("\n\n"), "empty file"),
        ("empty.parquet", lambda p: p.write_bytes(b""), "not a readable Parquet file"),
        ("empty.xlsx", lambda p: p.write_bytes(b""), "not a readable Excel file"),
        ("truncated.parquet", _truncated_parquet, "not a readable Parquet file"),
        ("cols.csv", lambda p: p.write_text("a,b,c\n1,2,3\n"), "wrong column set: missing"),
        ("latin1_header.csv", _latin1_header, "header row is not utf8 text"),
        ("merged_header.xlsx", _merged_header, "wrong column set: missing query_type"),
        ("notes.json", lambda p: p.write_text("{}"), "unsupported file type"),
    ],
)
def test_unreadable_files_stop_with_one_message_naming_the_file(
    tmp_path: Path, name: str, make: Callable[[Path], None] | None, needle: str
) -> None:
    path = tmp_path / name
    if make is not None:
        make(path)
    with pytest.raises(SourceError, match=needle) as e:
        _staged(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".xlsx"])
def test_header_only_files_are_zero_rows_not_errors(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"header_only{suffix}"
    write(SyntheticSpec(rows=0), path)
    assert _staged(path) == []


# --- files read whole, bad rows kept as raw text with the reason --------------------------
def _valid_rows(tmp_path: Path) -> list[dict[str, Any]]:
    path = _write_csv(tmp_path / "plain.csv", _csv_lines(tmp_path))
    rows = _staged(path)
    assert len(rows) == SPEC.rows and not _errors(rows)
    return rows


def _fields(rows: list[dict[str, Any]]) -> list[list[Any]]:
    return [[r[c] for c in REDSET_COLUMNS] for r in rows]


@pytest.mark.parametrize(
    "name,delimiter,bom",
    [
        ("tabs.tsv", "\t", False),
        ("semi.csv", ";", False),
        ("pipes.csv", "|", False),
        ("excel_utf8.csv", ",", True),
    ],
)
def test_other_delimiters_and_bom_read_every_row(
    tmp_path: Path, name: str, delimiter: str, bom: bool
) -> None:
    want = _fields(_valid_rows(tmp_path))
    path = _write_csv(tmp_path / name, _csv_lines(tmp_path), delimiter)
    if bom:
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    rows = _staged(path)
    assert _fields(rows) == want
    assert [r["_row"] for r in rows] == list(range(1, SPEC.rows + 1))


def test_csv_row_level_defects_are_kept_raw_with_row_and_reason(tmp_path: Path) -> None:
    """Wrong delimiter in one row, extra field, too few fields, unterminated quote,
    a latin-1 byte: each such row is one raw row naming file, row (and field)."""
    lines = _csv_lines(tmp_path)
    header, body = lines[0], lines[1:]
    text = [",".join(header).encode()]
    expect: dict[int, tuple[str | None, str]] = {}
    for i, fields in enumerate(body, start=1):
        line = io.StringIO()
        csv.writer(line, lineterminator="").writerow(fields)
        raw = line.getvalue().encode()
        if i == 5:
            raw = raw.replace(b",", b";")
            expect[i] = (None, "unreadable_row")
        elif i == 9:
            raw += b",surplus"
            expect[i] = (None, "unreadable_row")
        elif i == 13:
            raw = b"1,2,3"
            expect[i] = (None, "unreadable_row")
        elif i == 17:
            raw = raw[:25] + b'"unterminated'
            expect[i] = (None, "unreadable_row")
        elif i == 21:
            f = list(fields)
            f[COL["query_type"]] = "s\xe9lect"
            raw = ",".join(f'"{x}"' if "," in x else x for x in f).encode("latin-1")
            expect[i] = ("query_type", "invalid_encoding")
        text.append(raw)
    path = tmp_path / "rows.csv"
    path.write_bytes(b"\n".join(text) + b"\n")
    rows = _staged(path)
    assert [r["_row"] for r in rows] == list(range(1, SPEC.rows + 1)), "no row lost"
    errs = _errors(rows)
    assert {r: (e["field"], e["reason"]) for r, e in errs.items()} == expect
    for r, (field, _) in expect.items():
        _assert_named(errs[r], path, r, field)
    assert "--encoding latin-1" in errs[21]["message"]
    # each raw row keeps its text and becomes a dead letter naming file and row
    for r in expect:
        staged = next(x for x in rows if x["_row"] == r)
        assert staged["_raw"]
        dl = _dead({**staged, "_error": errs[r], "_kind": "provisioned"})
        assert dl["reason"] == expect[r][1] and dl["row"] == r and str(path) in dl["message"]
    # the latin-1 row reads with --encoding latin-1 (and is then an unknown query type)
    latin = _staged(path, encoding="latin-1")
    r21 = next(x for x in latin if x["_row"] == 21)
    assert r21["_error"] is None and r21["query_type"] == "s\xe9lect"


def test_header_and_rows_with_different_delimiters(tmp_path: Path) -> None:
    """A ';' header over ',' rows: the header decides, every row is a raw row (none lost)."""
    path = tmp_path / "mixed_delims.csv"
    _semicolon_header_comma_rows(path)
    rows = _staged(path)
    assert [r["_row"] for r in rows] == [1, 2]
    for r, e in _errors(rows).items():
        _assert_named(e, path, r, None)
        assert e["reason"] == "unreadable_row" and "expected 24 fields, found 1" in e["message"]


def test_extra_columns_are_ignored(tmp_path: Path) -> None:
    want = _fields(_valid_rows(tmp_path))
    lines = _csv_lines(tmp_path)
    lines = [["note", *ln[:5], "zone", *ln[5:]] for ln in lines]
    lines[0][0], lines[0][6] = "comment", "time_zone"
    rows = _staged(_write_csv(tmp_path / "extra.csv", lines))
    assert _fields(rows) == want and not _errors(rows)


def test_csv_row_longer_than_a_block(tmp_path: Path) -> None:
    """A huge field longer than the CSV block: the block grows, no row is lost or renumbered."""
    lines = _csv_lines(tmp_path)
    lines[7][COL["feature_fingerprint"]] = "f" * 300_000  # data row 7
    path = _write_csv(tmp_path / "long.csv", lines)
    batches = list(csv_batches(str(path), block_size=1 << 16))
    rows = [r for b in batches for r in b.to_pylist()]
    assert sorted(r["_row"] for r in rows) == list(range(1, SPEC.rows + 1))
    long = next(r for r in rows if r["_row"] == 7)
    assert len(long["feature_fingerprint"]) == 300_000
    assert long["query_id"] == lines[7][COL["query_id"]]


def test_excel_merged_cells_are_rejected_naming_the_cell(tmp_path: Path) -> None:
    path = tmp_path / "merged.xlsx"
    write(SPEC, path)
    wb = load_workbook(path)
    ws = wb.active
    ws.merge_cells("N4:N6")  # query_type of data rows 3..5: rows 4, 5 lose their value
    ws.merge_cells("A10:C10")  # instance_id .. user_id of data row 9
    ws.merge_cells("Z2:AB3")  # outside the Redset columns: harmless
    wb.save(path)
    rows = _staged(path)
    assert [r["_row"] for r in rows] == list(range(1, SPEC.rows + 1)), "no row lost"
    errs = _errors(rows)
    assert {r: (e["field"], e["reason"]) for r, e in errs.items()} == {
        4: ("query_type", "merged_cell"),
        5: ("query_type", "merged_cell"),
        9: ("cluster_size", "merged_cell"),
    }
    for r, e in errs.items():
        _assert_named(e, path, r, e["field"])
    assert "N5" in errs[4]["message"] and "N4:N6" in errs[4]["message"]
    assert next(r for r in rows if r["_row"] == 3)["query_type"] is not None  # top-left keeps it
    direct = [r for b in xlsx_batches(str(path)) for r in b.to_pylist()]
    assert len(direct) == SPEC.rows


def test_parquet_nonfinite_and_huge_values(tmp_path: Path) -> None:
    """Typed NaN/inf and a field over the row limit: what the replay sends is JSON every
    consumer reads (orjson, as Quix), and the clean stage dead-letters it naming the field."""
    t = generate(SPEC).table
    cols = {c: t.column(c).to_pylist() for c in t.column_names}
    cols["mbytes_scanned"][2] = math.nan
    cols["mbytes_spilled"][4] = math.inf
    cols["compile_duration_ms"][6] = -math.inf
    cols["read_table_ids"][8] = ",".join(str(i) for i in range(120_000))
    path = tmp_path / "typed.parquet"
    write_table(pa.table(cols, schema=t.schema), path)
    expect = {
        3: ("mbytes_scanned", "invalid_number"),
        5: ("mbytes_spilled", "invalid_number"),
        7: ("compile_duration_ms", "invalid_number"),
        9: ("read_table_ids", "field_too_large"),
    }
    from producers.replay import Filters, ordered_sql

    with duckdb.connect() as con:
        rel = stage(con, resolve(str(path), str(tmp_path / "cache"), progress=False))
        sent = con.execute(
            f"SELECT row, value FROM ({ordered_sql(rel, Filters(), presorted=True)})",
            {"run_id": "r", "dataset": "d"},
        ).fetchall()
    assert len(sent) == SPEC.rows
    for row, text in sent:
        v = orjson.loads(safe_value(text, str(path), row)[0])
        res = clean_row(v)
        if row in expect:
            assert res.dead is not None and (res.dead["field"], res.dead["reason"]) == expect[row]
            assert f"{path} row {row} field {expect[row][0]}" in res.dead["message"]
            assert len(orjson.dumps(res.dead)) < MAX_ROW_BYTES
        else:
            assert res.clean is not None, res.dead


# --- through a real broker -----------------------------------------------------------------
@pytest.mark.integration
def test_replay_parquet_nonfinite_and_huge(topic_settings: Settings, tmp_path: Path) -> None:
    t = generate(SPEC).table
    cols = {c: t.column(c).to_pylist() for c in t.column_names}
    cols["mbytes_scanned"][2] = math.nan
    cols["feature_fingerprint"][5] = "e" * 2_000_000  # twice Kafka's message limit
    cols["mbytes_spilled"][7] = -math.inf
    path = tmp_path / "typed.parquet"
    pq.write_table(pa.table(cols, schema=t.schema), path)
    s = replay(str(path), topic_settings, progress=False)
    assert s.rows_read == s.rows_sent == SPEC.rows
    msgs = read_all(topic_settings, topic_settings.topic("raw"), SPEC.rows)
    vals = {v["_row"]: v for v in (orjson.loads(m.value()) for m in msgs)}
    assert sorted(vals) == list(range(1, SPEC.rows + 1))
    assert vals[3]["mbytes_scanned"] == "NaN"
    assert (_dead(vals[3])["reason"], _dead(vals[3])["field"]) == (
        "invalid_number",
        "mbytes_scanned",
    )
    assert vals[8]["mbytes_spilled"] == "-Infinity"
    assert _dead(vals[8])["field"] == "mbytes_spilled"
    big = vals[6]
    assert big["_error"]["reason"] == "field_too_large" and big["feature_fingerprint"] is None
    assert (
        f"{path} row 6 field feature_fingerprint: 2,000,002 bytes as JSON"
        in (big["_error"]["message"])
    )
    assert big["query_id"] == cols["query_id"][5] and len(big["_raw"]) < 2000


# --- the whole pipeline on a file mixing row-level defects -----------------------------------
#: (field, bad value, expected reason); each breaks one otherwise valid row
ROW_DEFECTS: list[tuple[str, str, str]] = [
    ("feature_fingerprint", "f" * 2_000_000, "field_too_large"),
    ("read_table_ids", ",".join(["7"] * 300_000), "field_too_large"),
    ("mbytes_scanned", "NaN", "invalid_number"),
    ("compile_duration_ms", "inf", "invalid_number"),
    ("mbytes_spilled", "-Infinity", "invalid_number"),
    ("arrival_timestamp", "2150-01-01 00:00:00", "implausible_timestamp"),
    ("arrival_timestamp", "9999-12-31 23:59:59.999999", "implausible_timestamp"),
    ("arrival_timestamp", "1969-07-20 20:17:40", "implausible_timestamp"),
    ("arrival_timestamp", "1900-01-01 00:00:00", "implausible_timestamp"),
    ("arrival_timestamp", "31/03/2024 10:00", "invalid_timestamp"),
    ("query_type", "DROP TABLE", "unknown_query_type"),
    ("query_type", "selekt", "unknown_query_type"),
    ("queue_duration_ms", "-5", "negative_duration"),
    ("execution_duration_ms", "-1.5", "negative_duration"),
    ("user_id", "abc", "invalid_number"),
    ("execution_duration_ms", "12ms", "invalid_number"),
    ("instance_id", "cluster-x", "invalid_number"),
    ("query_id", "", "missing_field"),  # a NULL measure or attribute is valid (not measured)
    ("mbytes_scanned", "-3.0", "invalid_value"),
    ("was_cached", "maybe", "invalid_boolean"),
    ("read_table_ids", "1,two,3", "invalid_table_ids"),
]


#: reasons the replay decides (the row is sent raw); the clean stage decides the others
READER_REASONS = ("unreadable_row", "field_too_large", "invalid_encoding")


@pytest.mark.integration
def test_experiment_on_bad_rows_reconciles_exactly(
    topic_settings: Settings, tmp_path: Path
) -> None:
    """One CSV with every row-level defect (one defect per row, spread over the file, plus
    broken lines and an exact duplicate): the experiment runs to the end, every count
    reconciles, and each defect is one dead letter with the expected reason and field."""
    spec = SyntheticSpec(rows=300, seed=23, kind="mixed", clusters=4, days=0.5)
    lines = _csv_lines(tmp_path, spec)
    header, body = lines[0], lines[1:]
    out: list[bytes] = []
    expect: dict[int, tuple[str | None, str]] = {}  # data row -> (field, reason)
    dup_row = 0
    broken: set[int] = set()  # indices of the original rows made invalid
    stride = len(body) // (len(ROW_DEFECTS) + 4)
    for i, fields in enumerate(body):
        n_defect = i // stride if i % stride == stride // 2 else -1
        buf = io.StringIO()
        f = list(fields)
        reason_field: tuple[str | None, str] | None = None
        if 0 <= n_defect < len(ROW_DEFECTS):
            field, bad, reason = ROW_DEFECTS[n_defect]
            f[COL[field]] = bad
            reason_field = (field, reason)
            broken.add(i)
        csv.writer(buf, lineterminator="").writerow(f)
        out.append(buf.getvalue().encode())
        if reason_field:
            expect[len(out)] = reason_field
        if n_defect == len(ROW_DEFECTS):  # broken rows, a latin-1 byte, an exact duplicate
            out.append(b"1,2,3")
            expect[len(out)] = (None, "unreadable_row")
            out.append(buf.getvalue().encode() + b",surplus")
            expect[len(out)] = (None, "unreadable_row")
            out.append(buf.getvalue().encode().replace(b",", b";"))
            expect[len(out)] = (None, "unreadable_row")
            out.append(buf.getvalue().encode())
            dup_row = len(out)
        if n_defect == len(ROW_DEFECTS) + 1:
            out[-1] = out[-1].replace(f[COL["query_type"]].encode(), b"s\xe9lect")
            expect[len(out)] = ("query_type", "invalid_encoding")
            broken.add(i)
    path = tmp_path / "corpus.csv"
    path.write_bytes(",".join(header).encode() + b"\n" + b"\n".join(out) + b"\n")
    n_rows = len(out)
    n_dead = len(expect)
    n_broken_originals = len(broken)
    assert n_dead == len(ROW_DEFECTS) + 4 and dup_row
    clean_expected = spec.rows - n_broken_originals  # every other original row is valid

    db = tmp_path / "out.duckdb"
    run_id, summary, checks = run_experiment(
        str(path), str(db), topic_settings, idle_s=6.0, timeout_s=600.0, progress=False
    )
    assert [(c.name, c.left, c.right) for c in checks if not c.ok] == []
    assert summary.rows_read == n_rows
    by_reader = Counter(reason for _, reason in expect.values() if reason in READER_REASONS)
    assert summary.rows_rejected == dict(by_reader)
    wh = Warehouse.open(str(db), read_only=True)
    try:
        runs = wh.query("SELECT * FROM v_runs WHERE run_id = ?", [run_id])
        assert runs["raw_rows"].item() == n_rows
        assert runs["clean_rows"].item() == clean_expected
        assert runs["dead_letter_rows"].item() == n_dead
        assert runs["duplicate_rows"].item() == 1
        dead = wh.query(
            "SELECT row, field, reason, message, file FROM dead_letters WHERE run_id = ?", [run_id]
        )
        got: dict[int, tuple[str | None, str]] = {}
        for r, f, reason, msg, file in dead.itertuples(index=False):
            named = f if isinstance(f, str) else None  # pandas gives NaN for NULL
            got[int(r)] = (named, reason)
            assert file == str(path) and f"{path} row {r}" in msg, msg
            if named:
                assert named in msg, msg
        assert got == expect
        dup = wh.query("SELECT row FROM duplicates WHERE run_id = ?", [run_id])
        assert list(dup["row"]) == [dup_row]
    finally:
        wh.close()


def test_suspects_from_the_flag_column_or_the_text() -> None:
    """Rows safe_value must see: flagged by the SQL (typed floats), found in the JSON text
    (a float nested in another type), both at once, or too large; none otherwise."""
    from producers.replay.sanitise import suspects as _suspects

    texts = pa.array(
        [
            '{"a": 1}',
            '{"a": NaN}',
            '{"b": "x"}',
            "{" + " " * MAX_ROW_BYTES + "}",
            '{"l": [Infinity]}',
        ]
    )
    sql_flags = pa.array([False, True, False, False, False])
    assert _suspects(texts, sql_flags, search_text=False) == [1, 3]
    assert _suspects(texts, None, search_text=True) == [1, 3, 4]
    assert _suspects(texts, None, search_text=False) == [3]
    # a typed float column and a float nested in a list in the same source: both found
    assert _suspects(texts, pa.array([False, False, False, False, False]), True) == [1, 3, 4]
