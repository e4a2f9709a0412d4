"""The batch command's file reading and local checks, and its progress bar (no server)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from backend.cli.batch import ProgressBar
from backend.cli.batch_input import UsageError, check_case, chunk_key, chunks, load_cases

CASE = {"title": "Despejo", "description": "O proprietário quer me despejar."}


def test_jsonl_reports_bad_lines_by_number_and_skips_blank_ones(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text(
        "\n".join([json.dumps(CASE), "", "{not json", json.dumps({"title": "só título"})]),
        encoding="utf-8",
    )
    items = load_cases(path)
    assert [item.where for item in items] == ["line 1", "line 3", "line 4"]
    assert items[0].case == CASE and items[0].error is None
    assert items[1].error is not None and items[1].error.startswith("invalid JSON")
    assert items[2].error == "description: must be a non-empty string"


def test_json_array_and_csv_read_the_same_cases(tmp_path: Path) -> None:
    array = tmp_path / "cases.json"
    array.write_text(json.dumps([CASE, {**CASE, "client_email": "a@b.com"}]), encoding="utf-8")
    table = tmp_path / "cases.csv"
    table.write_text(
        "title,description,client_email\n"
        f"{CASE['title']},{CASE['description']},\n"
        f"{CASE['title']},{CASE['description']},a@b.com\n",
        encoding="utf-8",
    )
    from_array, from_csv = load_cases(array), load_cases(table)
    assert [i.case for i in from_array] == [i.case for i in from_csv]
    assert [i.where for i in from_array] == ["item 1", "item 2"]
    assert [i.where for i in from_csv] == ["line 2", "line 3"]


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        ("[1, 2", "cases.json", "invalid JSON"),
        ("só,texto\n", "cases.txt", "needs a header"),
        ("nome,texto\na,b\n", "cases.csv", "needs a header"),
    ],
)
def test_unreadable_files_are_usage_errors(
    tmp_path: Path, content: str, name: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UsageError, match=message):
        load_cases(path)


def test_a_json_file_of_one_object_is_read_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "cases.json"
    path.write_text('{"cases": []}', encoding="utf-8")
    [item] = load_cases(path)
    assert item.error == "unknown field(s): cases"


@pytest.mark.parametrize(
    ("case", "error"),
    [
        (CASE, None),
        ({**CASE, "client_email": None}, None),
        (["not", "an", "object"], "a case must be an object with title and description"),
        ({**CASE, "cpf": "123"}, "unknown field(s): cpf"),
        ({**CASE, "title": "   "}, "title: must be a non-empty string"),
        ({**CASE, "title": "x" * 301}, "title: at most 300 characters"),
        ({**CASE, "description": 42}, "description: must be a non-empty string"),
        ({**CASE, "client_email": "sem-arroba"}, "client_email: not an e-mail address"),
    ],
)
def test_check_case(case: object, error: str | None) -> None:
    assert check_case(case) == error


def test_chunks_hold_only_valid_cases_and_keys_are_stable(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join([json.dumps(CASE), "{}", json.dumps(CASE)] * 2), encoding="utf-8")
    groups = list(chunks(load_cases(path), 3))
    assert [[i.where for i in g] for g in groups] == [["line 1", "line 3", "line 4"], ["line 6"]]
    assert chunk_key("ab" * 32, 3, 1) == chunk_key("ab" * 32, 3, 1) == f"cli:{'ab' * 20}:3:1"
    assert chunk_key("ab" * 32, 3, 1) != chunk_key("ab" * 32, 4, 1)


def test_progress_bar_off_a_terminal_prints_lines_and_always_the_last() -> None:
    out = io.StringIO()
    bar = ProgressBar(4, out)
    bar.update(0, 0)
    bar.update(1, 0)  # within LINE_EVERY_S of the first line: not printed
    bar.update(3, 1, final=True)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in out.getvalue()
    assert lines[0].startswith("[" + "." * ProgressBar.WIDTH + "] 0/4")
    assert lines[1].startswith("[" + "#" * ProgressBar.WIDTH + "] 4/4 done=3 failed=1")
