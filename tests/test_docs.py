"""Keep README.md honest (the sqlite-utils way): every command has a heading, every option is
mentioned, and every command and option explains itself in --help."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from xfer.cli import main

README = Path(__file__).parents[1] / "README.md"

COMMANDS: dict[str, click.Command] = dict(sorted(main.commands.items()))
OPTIONS: list[tuple[str, click.Option]] = [
    (name, param)
    for name, command in COMMANDS.items()
    for param in command.params
    if isinstance(param, click.Option) and "--help" not in param.opts
]


def long_flags(option: click.Option) -> list[str]:
    return [flag for flag in option.opts + option.secondary_opts if flag.startswith("--")]


@pytest.fixture(scope="module")
def readme() -> str:
    assert README.exists(), f"{README} is missing"
    return README.read_text(encoding="utf-8")


def test_there_are_commands() -> None:
    assert {"migrate", "verify", "plan", "inspect"} <= set(COMMANDS)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_command_has_a_readme_heading(readme: str, name: str) -> None:
    assert f"### `xfer {name}`" in readme.splitlines(), f"README.md has no '### `xfer {name}`' heading"


@pytest.mark.parametrize(
    ("command", "option"), OPTIONS, ids=[f"{name}-{'/'.join(long_flags(o)) or o.name}" for name, o in OPTIONS]
)
def test_option_is_in_readme(readme: str, command: str, option: click.Option) -> None:
    flags = long_flags(option)
    assert flags, f"xfer {command}: option {option.name!r} has no long flag"
    for flag in flags:
        mentioned = re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", readme)
        assert mentioned, f"README.md never mentions {flag} (xfer {command})"


@pytest.mark.parametrize("name", list(COMMANDS))
def test_command_has_help(name: str) -> None:
    command = COMMANDS[name]
    assert command.help and command.help.strip(), f"xfer {name} has no help text"
    assert command.get_short_help_str(limit=80).strip()


@pytest.mark.parametrize(
    ("command", "option"), OPTIONS, ids=[f"{name}-{'/'.join(long_flags(o)) or o.name}" for name, o in OPTIONS]
)
def test_option_has_help(command: str, option: click.Option) -> None:
    assert option.help and option.help.strip(), f"xfer {command} {'/'.join(option.opts)} has no help text"


def test_main_group_has_help() -> None:
    assert main.help and "exit codes" in main.help.lower()


def test_python_api_example_runs_as_shown(readme: str, tmp_path: Path) -> None:
    """The README's "Python API" example, run on the bundled sample, prints what the README says."""
    import subprocess
    import sys

    section = readme.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```python\n(.*?)```\n\n```\n(.*?)```", section, re.S)
    assert found, "README.md's Python API section has no ```python block followed by its output"
    code, shown = found.groups()
    (tmp_path / "xfer").mkdir()
    (tmp_path / "xfer" / "samples").symlink_to(README.parent / "xfer" / "samples")
    # -P: the cwd (whose xfer/samples mirrors the repository's) must not shadow the package
    run = subprocess.run([sys.executable, "-P", "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout == shown
