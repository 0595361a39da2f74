"""Declarative specs (lm-eval task-file keys) for benchmarks no adapter knows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from warehouse_checks import query

from pipelines.cli import main
from warehouse.errors import SourceFormatError, SpecError
from warehouse.ingest import ingest
from warehouse.sources import get_benchmark, load_spec, registered_specs

ARC_SPEC = """
task: arc_via_spec
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
doc_to_text: "Question: {{{{question.stem}}}}\\nAnswer:"
doc_to_choice: "{{{{question.choices | map(attribute='text') | list}}}}"
doc_to_target: "{{{{(question.choices | map(attribute='label') | list).index(answerKey)}}}}"
metric_list: [{{metric: acc}}]
"""


def items(db: Path, benchmark: str) -> list[tuple]:
    return query(
        db,
        "SELECT source_id, prompt, choices, gold, target_delimiter FROM items WHERE benchmark = ? ORDER BY source_id",
        benchmark,
    )


def write_spec(folder: Path, text: str, name: str = "spec.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_jsonl_spec_matches_the_builtin_adapter(samples: Path, tmp_path: Path, db: Path) -> None:
    data = samples / "arc_challenge" / "ARC-Challenge-Test.jsonl"
    spec = write_spec(tmp_path, ARC_SPEC.format(data=data))

    result = ingest(load_spec(spec), db=db, allow_outside_files=True)
    ingest("arc_challenge", db=db, path=data)

    assert result.items == {"test": 1172} and result.n_rejects == 0
    assert items(db, "arc_via_spec") == items(db, "arc_challenge")


def test_csv_spec_with_labels_file(tmp_path: Path, db: Path) -> None:
    (tmp_path / "quiz.csv").write_text(
        "question,a,b,c\n"
        "Which gas do plants absorb?,oxygen,carbon dioxide,nitrogen\n"
        '"Which is a mammal,\nliving in the sea?",shark,whale,tuna\n'
        "Which metal is liquid at room temperature?,mercury,iron,lead\n"
        "What freezes at 0 C?,water,,salt\n"
    )
    (tmp_path / "quiz-labels.lst").write_text("1\n1\n7\n0\n")
    spec = write_spec(
        tmp_path,
        """
task: quiz
dataset_path: csv
dataset_kwargs: {data_files: quiz.csv}
validation_split: dev
doc_to_text: "Q: {{question}}\\nA:"
doc_to_choice: "{{[a, b, c]}}"
doc_to_target: "{{label}}"
labels_file: quiz-labels.lst
""",
    )

    result = ingest(load_spec(spec), db=db)

    assert result.items == {"dev": 2} and result.rejects == {"dev": 2}
    assert items(db, "quiz") == [
        ("0", "Q: Which gas do plants absorb?\nA:", ["oxygen", "carbon dioxide", "nitrogen"], 1, " "),
        ("1", "Q: Which is a mammal,\nliving in the sea?\nA:", ["shark", "whale", "tuna"], 1, " "),
    ]
    with duckdb.connect(str(db), read_only=True) as con:
        rejects = con.execute("SELECT row_ref, reason FROM ingest_rejects ORDER BY row_ref").fetchall()
    assert rejects == [
        ("record 3 (line 5)", "doc_to_target gave index 7, out of range for 3 choices"),
        ("record 4 (line 6)", "choice 1 is empty"),
    ]


def test_target_as_answer_text_and_trailing_space_moves_to_delimiter(tmp_path: Path, db: Path) -> None:
    (tmp_path / "q.jsonl").write_text(
        '{"id": "x1", "q": "Capital of France?", "options": ["Lyon", "Paris"], "answer": "Paris"}\n'
        '{"id": "x2", "q": "Largest planet?", "options": ["Jupiter", "Saturn"], "answer": "Pluto"}\n'
    )
    spec = write_spec(
        tmp_path,
        """
task: capitals
dataset_path: json
dataset_kwargs: {data_files: {test: q.jsonl}}
test_split: test
doc_to_text: "{{q}} Answer: "
doc_to_choice: options
doc_to_target: answer
""",
    )

    result = ingest(load_spec(spec), db=db)

    assert result.items == {"test": 1}
    assert items(db, "capitals") == [("x1", "Capital of France? Answer:", ["Lyon", "Paris"], 1, "  ")]
    with duckdb.connect(str(db), read_only=True) as con:
        [(reason,)] = con.execute("SELECT reason FROM ingest_rejects").fetchall()
    assert reason == "doc_to_target gave 'Pluto', which is neither an index nor one of the choices"


def test_registered_spec_is_reingested_by_name(samples: Path, tmp_path: Path, db: Path) -> None:
    shutil.copy(samples / "arc_challenge" / "ARC-Challenge-Test.jsonl", tmp_path / "arc.jsonl")
    spec = write_spec(tmp_path, ARC_SPEC.format(data="arc.jsonl"))
    ingest(load_spec(spec), db=db)

    again = ingest("arc_via_spec", db=db, limit=5, replace=True)

    assert again.items == {"test": 5}
    with duckdb.connect(str(db), read_only=True) as con:
        assert list(registered_specs(con)) == ["arc_via_spec"]
        assert get_benchmark("arc_via_spec", con).name == "arc_via_spec"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "task: t\ndataset_path: json\ndoc_to_text: x\ndoc_to_choices: '{{c}}'\ndoc_to_target: 0\n",
            "missing required key 'doc_to_choice'; unknown key 'doc_to_choices' (did you mean 'doc_to_choice'?)",
        ),
        ("task: t\ndataset_path: json\ndoc_to_choice: x\ndoc_to_target: 0\n", "missing required key 'doc_to_text'"),
        (
            "task: t\ndataset_path: json\ndoc_to_text: !function utils.doc_to_text\n"
            "doc_to_choice: x\ndoc_to_target: 0\n",
            "specs cannot run Python",
        ),
        (
            "task: t\noutput_type: generate_until\ndataset_path: json\n"
            "doc_to_text: x\ndoc_to_choice: x\ndoc_to_target: 0\n",
            "only multiple_choice is ingested",
        ),
        ("task: My Task\ndataset_path: json\ndoc_to_text: x\ndoc_to_choice: x\ndoc_to_target: 0\n", "key 'task'"),
        ("- just\n- a list\n", "expected a mapping of keys"),
        ("task: [unclosed\n", "not valid YAML"),
    ],
)
def test_spec_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    spec = write_spec(tmp_path, text, "bad.yaml")
    with pytest.raises(SpecError, match="bad.yaml") as raised:
        load_spec(spec)
    assert message in str(raised.value)


def test_spec_with_missing_data_file_writes_nothing(tmp_path: Path, db: Path) -> None:
    spec = write_spec(tmp_path, ARC_SPEC.format(data="nowhere.jsonl"))
    with pytest.raises(Exception, match=r"data file .*nowhere.jsonl does not exist"):
        ingest(load_spec(spec), db=db)
    assert not db.exists()


def test_spec_may_not_shadow_a_builtin(samples: Path, tmp_path: Path, db: Path) -> None:
    text = ARC_SPEC.format(data=samples / "arc_easy" / "ARC-Easy-Test.jsonl").replace("arc_via_spec", "arc_easy")
    with pytest.raises(SpecError, match="'arc_easy' is a built-in benchmark"):
        ingest(load_spec(write_spec(tmp_path, text)), db=db)


def test_bundled_demo_is_a_spec_with_forty_questions(db: Path) -> None:
    result = ingest("demo", db=db)
    assert result.items == {"test": 40} and result.n_rejects == 0
    with duckdb.connect(str(db), read_only=True) as con:
        golds = [g for (g,) in con.execute("SELECT gold FROM items").fetchall()]
        choice_counts = {n for (n,) in con.execute("SELECT len(choices) FROM items").fetchall()}
    assert choice_counts == {4} and sorted(set(golds)) == [0, 1, 2, 3]


QUIZ_SPEC = """
task: quiz
dataset_path: json
dataset_kwargs: {{data_files: {{test: {data}}}}}
test_split: test
doc_to_text: "{text}"
doc_to_choice: choices
doc_to_target: answer
{extra}"""
QUIZ_ROWS = "".join(
    json.dumps({"id": f"q{n}", "question": f"Question {n}?", "choices": ["yes", "no"], "answer": n % 2}) + "\n"
    for n in range(3)
)


def quiz(folder: Path, data: str = "quiz.jsonl", text: str = "{{question}}", extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "quiz.jsonl").write_text(QUIZ_ROWS)
    return write_spec(folder, QUIZ_SPEC.format(data=data, text=text, extra=extra))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ 'x' * 1000000000 }}", "'*' would make 1,000,000,000 characters, over the limit of 1,000,000"),
        ("{% for i in range(100000000) %}x{% endfor %}", "range of 100,000,000 items is over the limit of 1,000,000"),
        ("{{ question | regex_replace('', 'y' * 600000) }}", "regex_replace would make more than 1,000,000 characters"),
    ],
)
def test_a_template_bomb_stops_naming_the_key_and_the_row(tmp_path: Path, db: Path, text: str, message: str) -> None:
    with pytest.raises(SourceFormatError, match="quiz.jsonl has no valid row") as raised:
        ingest(load_spec(quiz(tmp_path, text=text)), db=db)
    assert f"line 1: doc_to_text: {message}" in str(raised.value)
    assert not db.exists()


def test_a_template_error_rejects_only_its_row(tmp_path: Path, db: Path) -> None:
    result = ingest(load_spec(quiz(tmp_path, text="{{ 10 / (answer - 1) }}")), db=db)
    assert result.items == {"test": 2}
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT row_ref, reason FROM ingest_rejects").fetchall() == [
            ("line 2", "doc_to_text: ZeroDivisionError: division by zero")
        ]


@pytest.mark.parametrize(
    ("data", "extra", "named"),
    [
        ("../outside.jsonl", "", "data file ../outside.jsonl"),
        ("{outside}", "", "data file {outside}"),
        ("link.jsonl", "", "data file link.jsonl"),
        ("quiz.jsonl", "labels_file: ../labels.lst", "labels file ../labels.lst"),
    ],
    ids=["parent", "absolute", "symlink", "labels"],
)
def test_a_spec_may_not_name_files_outside_its_folder(
    tmp_path: Path, db: Path, data: str, extra: str, named: str
) -> None:
    outside = tmp_path / "outside.jsonl"
    outside.write_text(QUIZ_ROWS)
    (tmp_path / "labels.lst").write_text("0\n1\n0\n")
    folder = tmp_path / "spec"
    folder.mkdir()
    (folder / "link.jsonl").symlink_to(outside)
    spec = quiz(folder, data=data.format(outside=outside), extra=extra)

    with pytest.raises(SpecError, match="is outside the spec's folder") as raised:
        ingest(load_spec(spec), db=db)

    assert named.format(outside=outside) in str(raised.value) and "--allow-outside-files" in str(raised.value)
    assert not db.exists()


def test_files_outside_the_spec_folder_are_read_when_allowed(tmp_path: Path, db: Path) -> None:
    (tmp_path / "outside.jsonl").write_text(QUIZ_ROWS)
    spec = quiz(tmp_path / "spec", data="../outside.jsonl")
    assert ingest(load_spec(spec), db=db, allow_outside_files=True).items == {"test": 3}


def test_cli_reads_files_outside_the_spec_folder_only_with_the_flag(tmp_path: Path, db: Path) -> None:
    (tmp_path / "outside.jsonl").write_text(QUIZ_ROWS)
    spec = str(quiz(tmp_path / "spec", data="../outside.jsonl"))
    runner = CliRunner()

    refused = runner.invoke(main, ["ingest", "--spec", spec, "--db", str(db)])
    allowed = runner.invoke(main, ["ingest", "--spec", spec, "--allow-outside-files", "--db", str(db)])

    assert refused.exit_code == 1 and "pass --allow-outside-files" in refused.output
    assert allowed.exit_code == 0 and allowed.output.startswith("quiz: 3 items, 0 rejected")
