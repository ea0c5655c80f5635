"""The top-level Dockerfile: one multi-stage image for the four services (read, not built)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
SERVICES = ("records", "immunization", "growth", "reporting")
PACKAGES = (
    "libs/events",
    "libs/servicekit",
    "libs/platform",
    "services/records",
    "services/immunization",
    "services/growth",
    "services/reporting",
)


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def last(self, keyword: str) -> str | None:
        values = [arg for kw, arg in self.instructions if kw == keyword]
        return values[-1] if values else None


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def resolve_base(self, stage: Stage) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: self.global_args.get(m.group(1), ""), stage.base)

    def chain(self, stage: Stage) -> list[Stage]:
        """The stage and the stages it is built FROM, nearest first."""
        chain = [stage]
        names = {s.name for s in self.stages}
        base = self.resolve_base(stage)
        while base in names:
            stage = self.stage(base)
            chain.append(stage)
            base = self.resolve_base(stage)
        return chain

    def effective(self, stage: Stage, keyword: str) -> str | None:
        for link in self.chain(stage):
            value = link.last(keyword)
            if value is not None:
                return value
            if keyword == "CMD" and link.last("ENTRYPOINT") is not None:
                return None  # ENTRYPOINT in a stage resets an inherited CMD
        return None

    def effective_env(self, stage: Stage) -> dict[str, str]:
        env: dict[str, str] = {}
        for link in reversed(self.chain(stage)):
            for keyword, arg in link.instructions:
                if keyword == "ENV":
                    env.update(dict(re.findall(r'(\w+)=("[^"]*"|\S+)', arg)))
        return {k: v.strip('"') for k, v in env.items()}


def parse(text: str) -> Dockerfile:
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, arg = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.match(r"(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", arg, flags=re.IGNORECASE)
            assert match, line
            stages.append(Stage(base=match.group(1), name=match.group(2)))
        elif not stages:
            assert keyword == "ARG", line
            name, _, default = arg.partition("=")
            global_args[name] = default
        else:
            stages[-1].instructions.append((keyword, arg.strip()))
    return Dockerfile(global_args, stages)


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def final(dockerfile: Dockerfile) -> Stage:
    return dockerfile.stages[-1]


def test_is_multi_stage_on_a_slim_base(dockerfile: Dockerfile) -> None:
    assert len(dockerfile.stages) >= 2
    external = {
        dockerfile.resolve_base(s)
        for s in dockerfile.stages
        if dockerfile.resolve_base(s) not in {x.name for x in dockerfile.stages}
    }
    assert external
    assert all("slim" in base for base in external), external
    build, runtime = dockerfile.stage("build"), dockerfile.stage("runtime")
    # The runtime takes the installed packages from the build stage, not the sources.
    copies = [arg for kw, arg in runtime.instructions if kw == "COPY"]
    assert copies == ["--from=build /opt/venv /opt/venv"]
    assert build.last("USER") is None


def test_final_stage_runs_as_a_non_root_user(dockerfile: Dockerfile, final: Stage) -> None:
    user = final.last("USER")
    assert user is not None, "the final stage sets USER itself"
    name, _, group = user.partition(":")
    assert name not in ("", "root", "0"), user
    assert group not in ("root", "0"), user
    assert name.isdigit(), "a numeric uid lets Kubernetes verify runAsNonRoot"
    runtime = dockerfile.stage("runtime")
    assert any(kw == "RUN" and f"--uid {name}" in arg for kw, arg in runtime.instructions)


def test_final_stage_has_a_healthcheck_on_healthz(final: Stage) -> None:
    check = final.last("HEALTHCHECK")
    assert check is not None
    assert "/healthz" in check
    assert "PORT" in check
    assert check.split()[0].startswith("--") or check.startswith("CMD")
    assert "CMD" in check
    assert "NONE" not in check.split()


def test_entrypoint_is_mch_and_default_command_serves_the_service(
    dockerfile: Dockerfile, final: Stage, architecture_ports: dict[str, int]
) -> None:
    assert json.loads(dockerfile.effective(final, "ENTRYPOINT") or "null") == ["mch"]
    default = dockerfile.global_args["SERVICE"]
    assert default in SERVICES
    assert json.loads(dockerfile.effective(final, "CMD") or "null") == ["serve", default]
    for service in SERVICES:
        stage = dockerfile.stage(f"service-{service}")
        assert json.loads(dockerfile.effective(stage, "CMD") or "null") == ["serve", service]
        env = dockerfile.effective_env(stage)
        assert env["PORT"] == str(architecture_ports[service])
        assert env["HOST"] == "0.0.0.0"
    assert dockerfile.resolve_base(final) == f"service-{default}"


def test_migrations_are_not_part_of_the_start(dockerfile: Dockerfile) -> None:
    for stage in dockerfile.stages:
        for keyword in ("ENTRYPOINT", "CMD"):
            value = stage.last(keyword) or ""
            assert "migrate" not in value, (stage.name, keyword)


def test_installs_the_workspace_pinned_by_the_constraints(dockerfile: Dockerfile) -> None:
    build = dockerfile.stage("build")
    runs = " ".join(arg for kw, arg in build.instructions if kw == "RUN")
    assert re.search(r"(--constraint|-c)\s+requirements/constraints\.txt", runs)
    for package in PACKAGES:
        assert f"./{package}" in runs, package
        assert (REPO / package / "pyproject.toml").exists(), package
    assert "-e " not in runs
    assert "--editable" not in runs
    copied = " ".join(arg for kw, arg in build.instructions if kw == "COPY")
    assert "requirements/constraints.txt" in copied


def test_dockerignore_keeps_the_context_small() -> None:
    lines = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "**", "everything is excluded unless listed"
    included = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert {"libs", "services", "requirements/constraints.txt"} <= included
    assert not included & {".venv", ".git", "data", "tests", "deploy"}


def test_the_parser_sees_a_root_final_stage() -> None:
    """The checks above can fail: a Dockerfile that ends as root is recognised as such."""
    bad = parse("FROM python:3.11-slim AS base\nUSER 10001\nFROM base AS final\nUSER root\n")
    assert bad.stages[-1].last("USER") == "root"
    inherited = parse(
        'FROM python:3.11-slim AS a\nCMD ["serve", "x"]\nFROM a\nENTRYPOINT ["mch"]\n'
    )
    assert inherited.effective(inherited.stages[-1], "CMD") is None
