"""README.md: its Python examples run as written, its commands and figure stay put."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")

#: The copy-paste commands at the top of the README, exactly.
COMMANDS = [
    'pip install . && gmoe demo',
    'pip install -e ".[test]" && python -m pytest',
]


def fenced_blocks(language, text=README):
    """The bodies of the ```<language> blocks of a Markdown text, in order."""
    pattern = re.compile(rf"^```{language}[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
    return [match.group(1) for match in pattern.finditer(text)]


PYTHON_BLOCKS = fenced_blocks("python")


def test_readme_has_python_examples():
    assert PYTHON_BLOCKS


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_python_block_runs(index, tmp_path, monkeypatch):
    """Each block runs in a fresh namespace after the blocks before it."""
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)  # anything a block writes lands in tmp_path
    namespace = {"__name__": "__readme__"}
    for number, block in enumerate(PYTHON_BLOCKS[: index + 1]):
        code = compile(block, f"README.md python block {number + 1}", "exec")
        exec(code, namespace)


def test_first_example_fits_the_two_experts(capsys):
    namespace = {"__name__": "__readme__"}
    exec(PYTHON_BLOCKS[0], namespace)
    capsys.readouterr()
    model, y = namespace["model"], namespace["y"]
    lower, upper = namespace["lower"], namespace["upper"]
    assert sorted(model.expert_coef_.ravel().round()) == [-20.0, 20.0]
    assert namespace["y_mean"].shape == y.shape
    inside = ((lower <= y) & (y <= upper)).mean()
    assert 0.85 < inside < 0.95


def test_the_only_shell_commands_are_the_two_copy_paste_ones():
    top = README.split("\n## ", 1)[0]
    assert [block.strip() for block in fenced_blocks("bash", top)] == COMMANDS
    for language in ("sh", "shell", "console", "bash"):
        rest = README.split("\n## ", 1)[1]
        assert not fenced_blocks(language, rest), (
            f"a ```{language} block below the top part of README.md")


def test_readme_figure_is_committed_small_and_made_by_its_script():
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README)
    assert images
    for image in images:
        path = ROOT / image
        assert path.is_file(), image
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size < 150_000, f"{image} is larger than 150 kB"
    script = ROOT / "docs" / "_static" / "make_readme_figure.py"
    assert script.is_file()
    assert "readme_fit.png" in script.read_text(encoding="utf-8")
    assert "docs/_static/readme_fit.png" in images
