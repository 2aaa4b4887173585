"""Read a Dockerfile and a .dockerignore the way `docker build` would.

tests/packaging/test_image.py builds the image with a real engine; what a
successful build does not show is checked from the files: this module parses
the instructions the tests look at (FROM, ARG, COPY, RUN, USER, ENV, LABEL,
EXPOSE, WORKDIR, ENTRYPOINT, CMD) into stages, and computes the build context from .dockerignore with Docker's matching rules (Go
`filepath.Match` patterns plus `**`, later lines override earlier ones, `!`
re-includes, and a pattern that matches a directory excludes what is in it).
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath


@dataclass(frozen=True, slots=True)
class Instruction:
    """One instruction; `args` is the text after the keyword, continuations joined."""

    keyword: str
    args: str
    line: int

    def json_form(self) -> list[str] | None:
        """The exec (JSON array) form's words, None for the shell form."""
        if not self.args.startswith("["):
            return None
        words = json.loads(self.args)
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ValueError(f"line {self.line}: {self.keyword} is not a JSON array of strings")
        return words

    def pairs(self) -> dict[str, str]:
        """`key=value` words (ENV, LABEL, ARG), quotes removed."""
        result = {}
        for word in shlex.split(self.args):
            key, sep, value = word.partition("=")
            result[key] = value if sep else ""
        return result


@dataclass(frozen=True, slots=True)
class Copy:
    """A COPY: its flags (`from`, `chown`, ...), sources and destination."""

    flags: dict[str, str]
    sources: tuple[str, ...]
    dest: str


@dataclass(slots=True)
class Stage:
    """A FROM and the instructions that follow it."""

    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        """This stage's instructions with that keyword, in order."""
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        """The one that takes effect (the last), if any."""
        found = self.all(keyword)
        return found[-1] if found else None

    def copies(self) -> list[Copy]:
        """Every COPY, parsed."""
        return [parse_copy(i) for i in self.all("COPY")]

    def env(self) -> dict[str, str]:
        """ENV values set in this stage (later ones win)."""
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            values.update(instruction.pairs())
        return values

    def args(self, global_args: dict[str, str]) -> dict[str, str]:
        """The ARG values in this stage: its defaults, and the global ones it redeclares."""
        values: dict[str, str] = {}
        for instruction in self.all("ARG"):
            for word in shlex.split(instruction.args):
                key, sep, value = word.partition("=")
                values[key] = value if sep else global_args.get(key, "")
        return values


@dataclass(slots=True)
class Dockerfile:
    """ARGs declared before the first FROM, then the stages."""

    global_args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        """The stage the image is made of."""
        return self.stages[-1]

    def stage(self, name: str) -> Stage:
        """A stage by its `AS` name."""
        return next(s for s in self.stages if s.name == name)


def parse(text: str) -> Dockerfile:
    """Parse a Dockerfile (default escape character, `#` comments)."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in instructions(text):
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            image = substitute(words[0], global_args)
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image, name))
        elif not stages:
            if instruction.keyword != "ARG":
                raise ValueError(f"line {instruction.line}: {instruction.keyword} before FROM")
            global_args.update(instruction.pairs())
        else:
            stages[-1].instructions.append(instruction)
    return Dockerfile(global_args, stages)


def instructions(text: str) -> Iterator[Instruction]:
    """The instructions, with backslash continuations joined and comments dropped."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if not pending:
            start = number
        continued = stripped.endswith("\\")
        pending.append(stripped[:-1].strip() if continued else stripped)
        if not continued:
            keyword, _, args = " ".join(p for p in pending if p).partition(" ")
            yield Instruction(keyword.upper(), args.strip(), start)
            pending = []
    if pending:
        raise ValueError(f"line {start}: the file ends inside a continued instruction")


def parse_copy(instruction: Instruction) -> Copy:
    """Split a COPY into --flags, sources and destination."""
    words = instruction.json_form() or shlex.split(instruction.args)
    flags: dict[str, str] = {}
    while words and words[0].startswith("--"):
        key, _, value = words.pop(0)[2:].partition("=")
        flags[key] = value
    if len(words) < 2:
        raise ValueError(f"line {instruction.line}: COPY needs a source and a destination")
    return Copy(flags, tuple(words[:-1]), words[-1])


def substitute(text: str, values: dict[str, str]) -> str:
    """Expand `$NAME` and `${NAME}` from `values` (unknown names are left alone)."""
    return re.sub(
        r"\$\{(\w+)\}|\$(\w+)",
        lambda m: values.get(m.group(1) or m.group(2), m.group(0)),
        text,
    )


# --- .dockerignore ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """One .dockerignore line: a compiled pattern, and whether it re-includes."""

    pattern: str
    regex: re.Pattern[str]
    include: bool


def ignore_rules(text: str) -> list[Rule]:
    """The rules of a .dockerignore file, in order."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = os.path.normpath(line[1:].strip() if include else line).lstrip("/")
        rules.append(Rule(pattern, re.compile(_regex(pattern)), include))
    return rules


def _regex(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            if pattern.startswith("**/", i):
                out.append("(?:.*/)?")
                i += 3
            else:
                out.append(".*")
                i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.index("]", i)
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
            i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def excluded(path: str, rules: list[Rule]) -> bool:
    """Whether `path` (relative, with /) is left out of the context; the last match decides."""
    candidates = [str(p) for p in reversed(PurePosixPath(path).parents) if str(p) != "."]
    candidates.append(path)
    result = False
    for rule in rules:
        if any(rule.regex.fullmatch(c) for c in candidates):
            result = not rule.include
    return result


def context_files(root: Path, rules: list[Rule]) -> set[str]:
    """Every file `docker build root` would send, as relative paths."""
    files: set[str] = set()
    for directory, subdirs, names in os.walk(root):
        here = Path(directory).relative_to(root)
        kept = []
        for sub in subdirs:
            rel = (here / sub).as_posix()
            if not (excluded(rel, rules) and not _may_reinclude(rel, rules)):
                kept.append(sub)
        subdirs[:] = kept
        for name in names:
            rel = (here / name).as_posix()
            if not excluded(rel, rules):
                files.add(rel)
    return files


def _may_reinclude(directory: str, rules: list[Rule]) -> bool:
    """Could a `!` rule bring back something under an excluded directory?"""
    for rule in rules:
        if not rule.include:
            continue
        literal = re.split(r"[*?\[\\]", rule.pattern, maxsplit=1)[0]
        if literal != rule.pattern and "/" not in literal:
            return True  # a wildcard in the first segment: cannot rule it out
        if rule.pattern.startswith(directory + "/") or literal.startswith(directory + "/"):
            return True
    return False
