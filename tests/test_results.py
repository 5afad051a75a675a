import fcntl
import json

import pytest

from jaxinv.errors import JaxinvError
from jaxinv.results import ResultsFile, read_results


def test_append_reload_and_skip(tmp_path):
    path = tmp_path / "r.jsonl"
    f = ResultsFile(path, {"rep": "hog", "n": 3})
    f.append([{"key": "a", "error": 0.1}, {"key": "b", "error": 0.2}])
    again = ResultsFile(path, {"rep": "hog", "n": 3})
    assert again.done() == {"a", "b"}
    assert [r["error"] for r in again.rows] == [0.1, 0.2]
    with pytest.raises(JaxinvError, match="already"):
        again.append([{"key": "a", "error": 0.3}])
    header = json.loads(path.read_text().splitlines()[0])
    assert header["kind"] == "config" and "jax" in header["environment"]


def test_other_configuration_is_refused(tmp_path):
    path = tmp_path / "r.jsonl"
    ResultsFile(path, {"rep": "hog", "n": 3})
    with pytest.raises(JaxinvError, match="another configuration .*rep"):
        ResultsFile(path, {"rep": "dsift", "n": 3})


def test_a_line_cut_off_by_a_kill_is_dropped(tmp_path):
    path = tmp_path / "r.jsonl"
    f = ResultsFile(path, {"x": 1})
    f.append([{"key": "a", "v": 1}])
    with open(path, "ab") as out:
        out.write(b'{"kind": "result", "key": "b", "v"')  # killed mid-write
    again = ResultsFile(path, {"x": 1})
    assert again.done() == {"a"}
    again.append([{"key": "b", "v": 2}])
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(line) for line in lines)


def test_not_a_results_file(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"kind": "result"}\n')
    with pytest.raises(JaxinvError, match="not a jaxinv results file"):
        ResultsFile(path, {})


def test_read_results_leaves_out_a_line_still_being_written_and_writes_nothing(tmp_path):
    path = tmp_path / "r.jsonl"
    ResultsFile(path, {"x": 1}).append([{"key": "a", "v": 1}])
    with open(path, "ab") as out:
        out.write(b'{"kind": "result", "key": "b"')  # another process mid-write
    before = path.read_bytes()
    config, rows = read_results(path)
    assert config == {"x": 1} and [r["key"] for r in rows] == ["a"]
    assert path.read_bytes() == before


def test_read_results_of_a_missing_or_foreign_file(tmp_path):
    with pytest.raises(JaxinvError, match="not found"):
        read_results(tmp_path / "none.jsonl")
    (tmp_path / "r.jsonl").write_text('{"kind": "result"}\n')
    with pytest.raises(JaxinvError, match="not a jaxinv results file"):
        read_results(tmp_path / "r.jsonl")


def test_a_file_another_process_writes_is_refused(tmp_path):
    """A lock held through another open file description (as another process's would be) refuses
    the file with a one-line error; once released, the run resumes from it."""
    path = tmp_path / "r.jsonl"
    ResultsFile(path, {"rep": "hog"}).append([{"key": "a", "error": 0.1}])
    other = tmp_path / "other.jsonl"
    other.write_bytes(path.read_bytes())
    with open(other, "ab") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(JaxinvError, match="being written by another run; wait for it"):
            ResultsFile(other, {"rep": "hog"})
        fcntl.flock(held, fcntl.LOCK_UN)
    assert ResultsFile(other, {"rep": "hog"}).done() == {"a"}
    assert ResultsFile(path, {"rep": "hog"}).done() == {"a"}  # this process may open its own file again


def test_read_only_reads_a_file_being_written_without_touching_it(tmp_path):
    """A table built mid-run: the whole rows, the line still being written left in place."""
    written = tmp_path / "written.jsonl"
    ResultsFile(written, {"rep": "hog"}).append([{"key": "a", "error": 0.1}])
    path = tmp_path / "r.jsonl"  # a file this process never wrote
    path.write_bytes(written.read_bytes() + b'{"kind": "result", "key": "b", "err')  # another process, mid-line
    before = path.read_bytes()
    with open(path, "ab") as held:  # that process's lock does not stop a reader
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        seen = ResultsFile(path, {"rep": "hog"}, read_only=True)
    assert seen.done() == {"a"} and path.read_bytes() == before
    with pytest.raises(JaxinvError, match="read-only"):
        seen.append([{"key": "c", "error": 0.3}])
    with pytest.raises(JaxinvError, match="another configuration"):
        ResultsFile(path, {"rep": "dsift"}, read_only=True)
    with pytest.raises(JaxinvError, match="not found"):
        ResultsFile(tmp_path / "none.jsonl", {"rep": "hog"}, read_only=True)


def test_a_result_made_again_replaces_its_row_in_place_and_the_file_stays_held(tmp_path):
    path = tmp_path / "r.jsonl"
    f = ResultsFile(path, {"n": 1})
    f.append([{"key": "a", "error": 0.1}, {"key": "b", "error": 0.2}])
    f.replace([{"key": "a", "error": 0.15}])
    assert [(r["key"], r["error"]) for r in f.rows] == [("a", 0.15), ("b", 0.2)]
    again = ResultsFile(path, {"n": 1})
    assert [(r["key"], r["error"]) for r in again.rows] == [("a", 0.15), ("b", 0.2)]
    assert json.loads(path.read_text().splitlines()[0])["kind"] == "config" and len(path.read_text().splitlines()) == 3
    f.append([{"key": "c", "error": 0.3}])
    assert ResultsFile(path, {"n": 1}).done() == {"a", "b", "c"}
    with pytest.raises(JaxinvError, match="'z' is not in .*append it instead"):
        f.replace([{"key": "z", "error": 1.0}])
    with pytest.raises(JaxinvError, match="read-only"):
        ResultsFile(path, {"n": 1}, read_only=True).replace([{"key": "a", "error": 0.0}])
