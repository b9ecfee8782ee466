"""The GitHub side: the llmc-gate composite action and the workflows.

- Every workflow and the action validate against SchemaStore's schemas for GitHub
  workflows and actions, as vendored by the `check-jsonschema` package (a test
  dependency): no network at test time.
- The action's `run:` steps are executed locally, the way the runner would (bash with the
  step's `env:` and `${{ inputs.* }}` substituted, GITHUB_OUTPUT / GITHUB_STEP_SUMMARY
  files), on the bundled demo snapshot; `uses:` steps (setup-python, upload-artifact) are
  GitHub's and are skipped. Argument building is checked against a stand-in `python`
  that records what it was asked to run.
- ci.yml runs the README's test command, as `.ci/run` does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
ACTION_DIR = REPO / ".github" / "actions" / "llmc-gate"
ACTION = ACTION_DIR / "action.yml"
WORKFLOWS = REPO / ".github" / "workflows"
POST_DEPLOY = WORKFLOWS / "post-deploy-gate.yml"
CI = WORKFLOWS / "ci.yml"
EXAMPLE_CONFIG = REPO / "checks.example.yaml"
DEMO_SNAPSHOT = REPO / "llmc_checks" / "demo" / "snapshot.jsonl.gz"

# SchemaStore's schemas, vendored by check-jsonschema (builtin_schemas/vendor/).
SCHEMA_PACKAGE = "check_jsonschema.builtin_schemas.vendor"
WORKFLOW_SCHEMA = "github-workflows.json"  # https://json.schemastore.org/github-workflow.json
ACTION_SCHEMA = "github-actions.json"  # https://json.schemastore.org/github-action.json

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}", re.DOTALL)


# ---------------------------------------------------------------------------
# Loading: YAML as GitHub reads it


class GitHubYamlLoader(yaml.SafeLoader):
    """YAML 1.2 booleans (only true/false), as GitHub reads workflows, and no duplicate keys.

    PyYAML follows YAML 1.1, where `on`, `off`, `yes` and `no` are booleans: the
    workflow's `on:` key would come back as True.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_BOOL = "tag:yaml.org,2002:bool"
GitHubYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
GitHubYamlLoader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=GitHubYamlLoader)


def load_schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        resources.files(SCHEMA_PACKAGE).joinpath(name).read_text(encoding="utf-8")
    )
    return schema


def schema_errors(document: Any, schema_name: str) -> list[str]:
    schema = load_schema(schema_name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: "
        f"{jsonschema.exceptions.best_match([e]).message[:300]}"
        for e in errors
    ]


# ---------------------------------------------------------------------------
# Schemas


def test_schemas_are_schemastores() -> None:
    assert (
        load_schema(WORKFLOW_SCHEMA)["$id"] == "https://json.schemastore.org/github-workflow.json"
    )
    assert load_schema(ACTION_SCHEMA)["$id"] == "https://json.schemastore.org/github-action.json"


def test_loader_reads_on_as_github_does() -> None:
    doc = yaml.load("on: push\nyes: 1\nflag: true\nx: off\n", Loader=GitHubYamlLoader)
    assert doc == {"on": "push", "yes": 1, "flag": True, "x": "off"}
    with pytest.raises(yaml.YAMLError, match="duplicate key 'a'"):
        yaml.load("a: 1\na: 2\n", Loader=GitHubYamlLoader)


def test_action_valid_against_github_schema() -> None:
    assert schema_errors(load_yaml(ACTION), ACTION_SCHEMA) == []


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.y*ml")), ids=lambda p: p.name)
def test_workflow_valid_against_github_schema(path: Path) -> None:
    assert schema_errors(load_yaml(path), WORKFLOW_SCHEMA) == []


def test_every_workflow_is_validated() -> None:
    assert {CI, POST_DEPLOY} <= set(WORKFLOWS.glob("*.y*ml"))


def test_schema_validation_catches_mistakes() -> None:
    # Controls: the validation above would notice a broken file.
    action = load_yaml(ACTION)
    del _run_steps(action)[0]["shell"]  # composite run steps need a shell
    assert schema_errors(action, ACTION_SCHEMA)
    workflow = load_yaml(POST_DEPLOY)
    del workflow["jobs"]["gate"]["runs-on"]
    assert schema_errors(workflow, WORKFLOW_SCHEMA)
    as_pyyaml_reads_it = yaml.safe_load(POST_DEPLOY.read_text(encoding="utf-8"))
    assert True in as_pyyaml_reads_it
    assert schema_errors(as_pyyaml_reads_it, WORKFLOW_SCHEMA)


# ---------------------------------------------------------------------------
# Static checks of the action and its use


def _run_steps(action: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for step in action["runs"]["steps"] if "run" in step]


def _scripts(document: dict[str, Any]) -> list[str]:
    steps = list(document.get("runs", {}).get("steps", []))
    for job in document.get("jobs", {}).values():
        steps.extend(job.get("steps", []))
    return [step["run"] for step in steps if "run" in step]


@pytest.mark.parametrize("path", [ACTION, POST_DEPLOY], ids=["action.yml", "post-deploy-gate.yml"])
def test_no_expression_inside_a_script(path: Path) -> None:
    # Inputs reach scripts only through `env:`: `${{ }}` in a script is pasted into the
    # shell source before it runs (script injection).
    scripts = _scripts(load_yaml(path))
    assert scripts
    assert [s for s in scripts if "${{" in s] == []


def test_action_expressions_name_real_inputs_and_steps() -> None:
    action = load_yaml(ACTION)
    inputs = set(action["inputs"])
    text = ACTION.read_text(encoding="utf-8")
    used = set(re.findall(r"\binputs\.([A-Za-z0-9_-]+)", text))
    assert used <= inputs, used - inputs
    assert inputs <= used, f"unused inputs: {inputs - used}"
    step_ids = {step.get("id") for step in action["runs"]["steps"]}
    for name, output in action["outputs"].items():
        match = re.fullmatch(r"\$\{\{ steps\.([\w-]+)\.outputs\.([\w-]+) \}\}", output["value"])
        assert match, name
        assert match[1] in step_ids
        assert match[2] == name
    assert {"status", "report-json", "report-md"} <= set(action["outputs"])
    for step in _run_steps(action):
        assert step["shell"] == "bash"
        assert "if" not in step  # the local runner below does not evaluate conditions
    upload = next(s for s in action["runs"]["steps"] if "upload-artifact" in s.get("uses", ""))
    assert upload["uses"] == "actions/upload-artifact@v4"
    assert upload["if"].startswith("always()")
    steps = action["runs"]["steps"]
    assert steps.index(upload) > max(steps.index(s) for s in _run_steps(action))


def test_action_defaults() -> None:
    defaults = {name: spec.get("default") for name, spec in load_yaml(ACTION)["inputs"].items()}
    assert defaults == {
        "config": "checks.yaml",
        "after": "",
        "wait": "45m",
        "version": "action",  # llmc-checks is on no package index: the action's own checkout
        "python-version": "3.12",
        "report-dir": "llmc-reports",
        "strict": "false",
        "snapshot": "",
        "extra-args": "",
        "artifact-name": "llmc-reports",
    }


def test_post_deploy_workflow_uses_the_action() -> None:
    workflow = load_yaml(POST_DEPLOY)
    assert set(workflow["on"]) == {"deployment_status", "workflow_dispatch"}
    assert "after" in workflow["on"]["workflow_dispatch"]["inputs"]
    assert workflow["permissions"] == {"contents": "read"}
    assert "deployment.environment" in workflow["concurrency"]["group"]
    job = workflow["jobs"]["gate"]
    assert "deployment_status.state == 'success'" in job["if"]
    assert job["env"]["POSTHOG_PERSONAL_API_KEY"] == "${{ secrets.POSTHOG_PERSONAL_API_KEY }}"
    gate = next(s for s in job["steps"] if s.get("uses") == "./.github/actions/llmc-gate")
    assert "continue-on-error" not in gate  # a regression fails the job
    inputs = load_yaml(ACTION)["inputs"]
    assert set(gate["with"]) <= set(inputs)
    assert gate["with"]["wait"] == "45m"
    assert gate["with"]["after"] == "${{ steps.deploy.outputs.after }}"
    assert job["timeout-minutes"] > 45
    # The default installs llmc-checks from the action's own checkout; a copy pins `uses:`.
    assert "version" not in gate["with"]
    header = POST_DEPLOY.read_text(encoding="utf-8").split("\nname:", 1)[0]
    assert "uses: <owner>/llmc-checks/.github/actions/llmc-gate@<sha>" in header


def test_the_readme_says_how_to_pin_the_action_and_what_waiting_can_do() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    actions = readme[readme.index("## GitHub Actions") :]
    actions = actions[: actions.index("\n## ", 1)]
    assert "uses: <owner>/llmc-checks/.github/actions/llmc-gate@<full commit sha>" in actions
    assert "`version`" in actions and "git+https://github.com/<owner>/llmc-checks@<sha>" in actions
    post_deploy = readme[readme.index("### Post-deploy") :]
    post_deploy = post_deploy[: post_deploy.index("\n## ", 1)]
    for words in ("once a day", "cannot", "schedule", "--llmc-after"):
        assert words in post_deploy, words
    header = ACTION.read_text(encoding="utf-8").split("\nname:", 1)[0]
    assert "uses: <owner>/llmc-checks/.github/actions/llmc-gate@<full commit sha>" in header


# ---------------------------------------------------------------------------
# Running steps the way the runner does


@dataclass
class StepRun:
    name: str
    returncode: int
    stdout: str
    stderr: str


@dataclass
class ActionRun:
    steps: list[StepRun]
    outputs: dict[str, str]
    summary: str
    workdir: Path

    @property
    def returncode(self) -> int:
        return self.steps[-1].returncode

    @property
    def log(self) -> str:
        return "\n".join(f"--- {s.name}\n{s.stdout}\n{s.stderr}" for s in self.steps)


def parse_github_output(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT's two forms: `name=value` and `name<<DELIMITER` … `DELIMITER`."""
    outputs: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            for body_line in lines:
                if body_line == delimiter:
                    break
                body.append(body_line)
            outputs[name] = "\n".join(body)
        elif line:
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs


def _clean_env() -> dict[str, str]:
    # Nothing of this pytest run (its LLMC_* options, PYTEST_*, a real GITHUB_*) leaks in.
    prefixes = ("LLMC_", "PYTEST_", "GITHUB_", "RUNNER_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def _substitute(value: Any, contexts: dict[str, dict[str, str]]) -> str:
    def evaluate(match: re.Match[str]) -> str:
        context, _, name = match[1].partition(".")
        if context not in contexts or name not in contexts[context]:
            raise AssertionError(f"the local runner cannot evaluate ${{{{ {match[1]} }}}}")
        return contexts[context][name]

    return EXPRESSION.sub(evaluate, str(value))


def run_step_script(
    script: str, env: dict[str, str], cwd: Path, name: str = "step", timeout: float = 60
) -> StepRun:
    # As the runner runs `shell: bash`: bash --noprofile --norc -eo pipefail {0}
    slug = re.sub(r"\W+", "-", name)
    script_file = cwd.parent / f"{cwd.name}-{slug}.sh"
    script_file.write_text(script, encoding="utf-8")
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return StepRun(name, proc.returncode, proc.stdout, proc.stderr)


def run_action(
    tmp_path: Path,
    inputs: dict[str, str],
    *,
    path_dirs: tuple[Path, ...] = (),
    action_dir: Path = ACTION_DIR,
    extra_env: dict[str, str] | None = None,
    only: str | None = None,
) -> ActionRun:
    """Run the action's `run:` steps in order, stopping at the first failure (as GitHub
    does for steps without `if: always()`); `uses:` steps are skipped, and with `only`
    (a step id) every other step."""
    action = load_yaml(ACTION)
    values = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    unknown = set(inputs) - set(values)
    assert not unknown, f"not inputs of the action: {unknown}"
    values.update(inputs)
    workdir = tmp_path / "workspace"
    workdir.mkdir(exist_ok=True)
    output_file = tmp_path / "github_output"
    summary_file = tmp_path / "step_summary.md"
    runner_temp = tmp_path / "runner_temp"
    runner_temp.mkdir(exist_ok=True)
    for file in (output_file, summary_file):
        file.write_text("", encoding="utf-8")
    contexts = {"inputs": values, "github": {"action_path": str(action_dir)}}
    base = _clean_env()
    search_path = [*map(str, path_dirs), str(Path(sys.executable).parent), base.get("PATH", "")]
    base.update(
        PATH=os.pathsep.join(search_path),
        GITHUB_ACTIONS="true",
        GITHUB_OUTPUT=str(output_file),
        GITHUB_STEP_SUMMARY=str(summary_file),
        GITHUB_ACTION_PATH=str(action_dir),
        GITHUB_WORKSPACE=str(workdir),
        RUNNER_TEMP=str(runner_temp),
        **(extra_env or {}),
    )
    steps: list[StepRun] = []
    for step in action["runs"]["steps"]:
        if "uses" in step or (only is not None and step.get("id") != only):
            continue
        env = dict(base)
        env.update({k: _substitute(v, contexts) for k, v in step.get("env", {}).items()})
        result = run_step_script(step["run"], env, workdir, step.get("name", "step"))
        steps.append(result)
        if result.returncode != 0:
            break
    return ActionRun(
        steps=steps,
        outputs=parse_github_output(output_file.read_text(encoding="utf-8")),
        summary=summary_file.read_text(encoding="utf-8"),
        workdir=workdir,
    )


def test_parse_github_output() -> None:
    text = "a=1\nb<<EOF\nx=y\nz\nEOF\nc=p=q\n"
    assert parse_github_output(text) == {"a": "1", "b": "x=y\nz", "c": "p=q"}


# ---------------------------------------------------------------------------
# The action on the demo snapshot (real llmc-checks, no network)

# Keeps the inner pytest from writing .pytest_cache into the repository (its rootdir).
NO_CACHE = "-p no:cacheprovider"


def test_action_gates_the_demo_snapshot(tmp_path: Path) -> None:
    run = run_action(
        tmp_path,
        {
            "config": str(EXAMPLE_CONFIG),
            "version": "none",  # installed already (editable): the step only checks that
            # Before the demo's latest window end: that run counts. No wait: a snapshot
            # is a frozen file, where --llmc-wait is a usage error.
            "after": "2026-11-01T00:00:00Z",
            "wait": "",
            "extra-args": NO_CACHE,
        },
    )
    assert run.returncode == 0, run.log
    assert [s.name for s in run.steps] == ["Install llmc-checks", "Run the llmc-checks gate"]
    assert "--llmc-after 2026-11-01T00:00:00Z" in run.log
    assert "--llmc-wait" not in run.log
    json_report = run.workdir / "llmc-reports" / "llmc-report.json"
    md_report = run.workdir / "llmc-reports" / "llmc-report.md"
    assert run.outputs == {
        "report-json": "llmc-reports/llmc-report.json",
        "report-md": "llmc-reports/llmc-report.md",
        "status": "warn",  # the demo's p95 latency check is a warning
        "exit-code": "0",
    }
    report = json.loads(json_report.read_text(encoding="utf-8"))
    assert report["status"] == "warn"
    assert [c["status"] for c in report["checks"]].count("warn") == 1
    markdown = md_report.read_text(encoding="utf-8")
    # The job summary gets the Markdown report once (llmc-checks appends it; the action
    # does not add it again).
    assert run.summary == markdown
    assert run.summary.startswith("## ⚠️ llmc-checks: passed with warnings")
    assert run.summary.count("llmc-checks: passed with warnings") == 1
    header = next(line for line in run.summary.splitlines() if line.startswith("| status |"))
    assert header.startswith("| status | check | scope | observed | expected |")
    assert header.endswith("| worst cluster |")
    assert "| ⚠️ warn | p95_latency_s max_increase 20% |" in run.summary
    assert "::warning title=llmc-gate::gate passed with warnings" in run.steps[-1].stdout


def test_action_fails_on_a_regression_after_writing_its_outputs(tmp_path: Path) -> None:
    # The demo with a 1% noise ceiling, in the workspace like a caller's checks.yaml. Its
    # source path does not exist there: it reads the demo through the `snapshot` input.
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    assert "  - metric: noise_share\n    max: 25%\n" in text
    workspace = tmp_path / "workspace"
    (workspace / "snapshots").mkdir(parents=True)
    (workspace / "checks.yaml").write_text(text.replace("max: 25%", "max: 1%"), encoding="utf-8")
    shutil.copy(DEMO_SNAPSHOT, workspace / "snapshots" / "demo.jsonl.gz")
    stale = workspace / "out" / "llmc-report.json"
    stale.parent.mkdir()
    stale.write_text('{"status": "pass"}', encoding="utf-8")
    run = run_action(
        tmp_path,
        {
            "version": "none",  # config: the default, checks.yaml
            "snapshot": "snapshots/demo.jsonl.gz",
            "report-dir": "out/",
            "extra-args": NO_CACHE,
        },
    )
    assert run.returncode == 1, run.log  # pytest's exit code: tests failed
    assert "--llmc-after" not in run.log
    assert "--llmc-strict" not in run.log
    # Written before the step failed, so the upload step (if: always()) and the caller see it.
    assert run.outputs == {
        "report-json": "out/llmc-report.json",
        "report-md": "out/llmc-report.md",
        "status": "fail",
        "exit-code": "1",
    }
    report = json.loads(stale.read_text(encoding="utf-8"))
    assert report["status"] == "fail"
    failed = [c["metric"] for c in report["checks"] if c["status"] == "fail"]
    assert failed == ["noise_share"]
    assert (run.workdir / "out" / "llmc-report.md").is_file()
    assert run.summary.startswith("## ❌ llmc-checks")
    assert "| ❌ fail | noise_share max 1% |" in run.summary
    assert "::error title=llmc-gate::gate status: fail (exit code 1)" in run.steps[-1].stdout


def test_action_config_error_is_an_error_status(tmp_path: Path) -> None:
    run = run_action(
        tmp_path, {"config": "missing.yaml", "version": "none", "extra-args": NO_CACHE}
    )
    assert run.returncode == 4, run.log  # pytest's usage error
    assert "missing.yaml: cannot read" in run.steps[-1].stderr
    assert run.outputs["status"] == "error"
    assert run.outputs["exit-code"] == "4"
    assert not (run.workdir / "llmc-reports" / "llmc-report.json").exists()
    # No report to append: the action says so in the summary instead.
    assert run.summary.startswith("## ❌ llmc-checks: no report")
    assert "pytest exited 4" in run.summary


# ---------------------------------------------------------------------------
# Argument building and installation, against a stand-in python

FAKE_PYTHON = """\
#!{executable}
# A stand-in `python`: records `-m pytest` / `-m pip` calls (pytest also writes a JSON
# report with $FAKE_STATUS) and runs everything else with the real interpreter.
import json, os, sys
argv = sys.argv[1:]
if argv[:2] in (["-m", "pytest"], ["-m", "pip"]):
    with open(os.environ["FAKE_PYTHON_LOG"], "a", encoding="utf-8") as fh:
        fh.write(json.dumps(argv) + "\\n")
    if argv[1] == "pytest" and os.environ.get("FAKE_STATUS"):
        for flag, value in zip(argv, argv[1:]):
            if flag == "--llmc-report" and value.endswith(".json"):
                with open(value, "w", encoding="utf-8") as out:
                    json.dump({{"status": os.environ["FAKE_STATUS"]}}, out)
    sys.exit(int(os.environ.get("FAKE_EXIT", "0")))
os.execv(sys.executable, [sys.executable, *argv])
"""


@dataclass
class FakeRun:
    run: ActionRun
    calls: list[list[str]]


def run_with_fake_python(
    tmp_path: Path,
    inputs: dict[str, str],
    *,
    status: str = "pass",
    exit_code: int = 0,
    action_dir: Path = ACTION_DIR,
    only: str | None = "gate",
) -> FakeRun:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python"
    fake.write_text(FAKE_PYTHON.format(executable=sys.executable), encoding="utf-8")
    fake.chmod(0o755)
    log = tmp_path / "calls.jsonl"
    run = run_action(
        tmp_path,
        inputs,
        path_dirs=(bin_dir,),
        action_dir=action_dir,
        only=only,
        extra_env={"FAKE_PYTHON_LOG": str(log), "FAKE_STATUS": status, "FAKE_EXIT": str(exit_code)},
    )
    calls = (
        [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
        if log.exists()
        else []
    )
    return FakeRun(run, calls)


REPORTS = ["--llmc-report", "llmc-reports/llmc-report.json"]
REPORTS += ["--llmc-report", "llmc-reports/llmc-report.md"]


@pytest.mark.parametrize(
    ("inputs", "expected_tail"),
    [
        ({}, []),
        ({"after": "2026-11-22T09:30:00Z"}, ["--llmc-after", "2026-11-22T09:30:00Z"]),
        (
            {"after": "2026-11-22T09:30:00+01:00", "wait": "2h"},
            ["--llmc-after", "2026-11-22T09:30:00+01:00", "--llmc-wait", "2h"],
        ),
        ({"wait": "2h"}, []),  # a wait without a deploy time is dropped, not an error
        ({"strict": "true"}, ["--llmc-strict"]),
        ({"strict": "false"}, []),
        ({"snapshot": "snaps/events.jsonl.gz"}, ["--llmc-snapshot", "snaps/events.jsonl.gz"]),
        (  # a snapshot is frozen: no --llmc-wait (a usage error there)
            {"snapshot": "s.jsonl", "after": "2026-11-22T09:30:00Z", "wait": "45m"},
            ["--llmc-after", "2026-11-22T09:30:00Z", "--llmc-snapshot", "s.jsonl"],
        ),
        (
            {"extra-args": "--llmc-require-baseline -k 'not title stability' $HOME;$(id)"},
            ["--llmc-require-baseline", "-k", "not title stability", "$HOME;$(id)"],
        ),
    ],
    ids=[
        "defaults",
        "after",
        "after+wait",
        "wait-only",
        "strict",
        "not-strict",
        "snapshot",
        "snapshot-no-wait",
        "extra",
    ],
)
def test_gate_arguments(tmp_path: Path, inputs: dict[str, str], expected_tail: list[str]) -> None:
    if "after" in inputs and "wait" not in inputs:
        expected_tail = [*expected_tail, "--llmc-wait", "45m"]
    fake = run_with_fake_python(tmp_path, {"version": "none", **inputs})
    assert fake.run.returncode == 0, fake.run.log
    assert fake.calls == [
        ["-m", "pytest", "--llmc-config", "checks.yaml", *REPORTS, *expected_tail]
    ]
    assert fake.run.outputs["status"] == "pass"


def test_a_value_with_shell_syntax_stays_data(tmp_path: Path) -> None:
    evil = 'x"; touch pwned; echo "$(touch pwned2)'
    fake = run_with_fake_python(tmp_path, {"version": "none", "config": evil, "snapshot": evil})
    assert fake.run.returncode == 0, fake.run.log
    assert fake.calls[0][3] == evil
    assert fake.calls[0][-1] == evil
    assert not list(fake.run.workdir.glob("pwned*"))


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"strict": "maybe"}, "strict must be true or false, not 'maybe'"),
        ({"extra-args": "-k 'unbalanced"}, "extra-args: cannot split"),
        ({"report-dir": ""}, "report-dir must be a one-line, non-empty path"),
        ({"report-dir": "a\nstatus=pass"}, "report-dir must be a one-line, non-empty path"),
    ],
)
def test_bad_inputs_are_an_error_status(
    tmp_path: Path, inputs: dict[str, str], message: str
) -> None:
    fake = run_with_fake_python(tmp_path, {"version": "none", **inputs})
    assert fake.run.returncode == 2
    assert f"::error title=llmc-gate::{message}" in fake.run.steps[-1].stdout
    assert fake.run.outputs["status"] == "error"
    assert [c for c in fake.calls if c[1] == "pytest"] == []


def test_annotations_cannot_inject_workflow_commands(tmp_path: Path) -> None:
    # An input echoed in an error annotation is escaped (%, CR, LF), so it cannot start
    # a workflow command line of its own.
    fake = run_with_fake_python(tmp_path, {"extra-args": "'x\n::warning::injected 100%"})
    assert fake.run.returncode == 2
    lines = fake.run.steps[-1].stdout.splitlines()
    assert not [line for line in lines if line.startswith("::warning")]
    assert "'x%0A::warning::injected 100%25'" in lines[0]


@pytest.mark.parametrize(
    ("status", "exit_code", "expected_status", "expected_code"),
    [
        ("fail", 1, "fail", 1),
        ("error", 1, "error", 1),
        ("pass", 5, "pass", 5),  # whatever pytest says, the step says
        ("", 0, "error", 1),  # exit 0 without a report is never a pass
        ("bogus", 0, "error", 1),
    ],
)
def test_exit_code_and_status(
    tmp_path: Path, status: str, exit_code: int, expected_status: str, expected_code: int
) -> None:
    fake = run_with_fake_python(tmp_path, {"version": "none"}, status=status, exit_code=exit_code)
    assert fake.run.returncode == expected_code
    assert fake.run.outputs["status"] == expected_status
    assert fake.run.outputs["exit-code"] == str(expected_code)


@pytest.mark.parametrize(
    ("version", "spec"),
    [
        ("llmc-checks", "llmc-checks"),  # from the caller's own index
        ("", str(REPO)),  # empty: the default
        ("0.1.0", "llmc-checks==0.1.0"),
        ("llmc-checks>=0.1,<0.2", "llmc-checks>=0.1,<0.2"),
        (".", "."),
        ("git+https://example.com/llmc-checks@v1", "git+https://example.com/llmc-checks@v1"),
        ("action", str(REPO)),  # this repository holds the action
    ],
)
def test_install_spec(tmp_path: Path, version: str, spec: str) -> None:
    fake = run_with_fake_python(tmp_path, {"version": version}, only="install")
    assert fake.run.returncode == 0, fake.run.log
    assert fake.calls[0] == ["-m", "pip", "install", "--disable-pip-version-check", spec]


def test_the_default_installs_the_checkout_the_action_came_from(tmp_path: Path) -> None:
    # `uses: owner/llmc-checks/.github/actions/llmc-gate@<sha>`: GitHub puts that commit's
    # checkout at the action path; the default installs it, so one pin covers both.
    fake = run_with_fake_python(tmp_path, {}, only="install")
    assert fake.run.returncode == 0, fake.run.log
    assert fake.calls == [["-m", "pip", "install", "--disable-pip-version-check", str(REPO)]]


@pytest.mark.parametrize("version", ["action", ""])
def test_install_from_a_copied_action_says_how_to_pin(tmp_path: Path, version: str) -> None:
    other_repo = tmp_path / "app"
    copied = other_repo / ".github" / "actions" / "llmc-gate"
    copied.mkdir(parents=True)
    (other_repo / "pyproject.toml").write_text('[project]\nname = "app"\n', encoding="utf-8")
    fake = run_with_fake_python(tmp_path, {"version": version}, action_dir=copied, only="install")
    assert fake.run.returncode == 1
    out = fake.run.steps[0].stdout
    assert f"but {other_repo} is not llmc-checks (a copied action?)" in out
    assert "uses: <owner>/llmc-checks/.github/actions/llmc-gate@<sha>" in out
    assert "git+https://github.com/<owner>/llmc-checks@<sha>" in out
    assert fake.calls == []


def test_version_none_needs_an_installed_llmc_checks(tmp_path: Path) -> None:
    fake = run_with_fake_python(tmp_path, {"version": "none"}, only="install")
    assert fake.run.returncode == 0, fake.run.log
    assert fake.calls == []
    assert "llmc-checks 0" in fake.run.steps[0].stdout  # found, with its version
    bin_dir = tmp_path / "other"
    bin_dir.mkdir()
    bare = bin_dir / "python"  # an interpreter where llmc-checks is not installed
    bare.write_text(f'#!/bin/sh\nexec {sys.executable} -I -S "$@"\n', encoding="utf-8")
    bare.chmod(0o755)
    second = tmp_path / "second"
    second.mkdir()
    run = run_action(second, {"version": "none"}, path_dirs=(bin_dir,), only="install")
    assert run.returncode == 1
    assert "version: none, but llmc-checks is not installed" in run.steps[0].stdout


# ---------------------------------------------------------------------------
# The post-deploy workflow's own scripts


def _workflow_step(name: str) -> dict[str, Any]:
    steps = load_yaml(POST_DEPLOY)["jobs"]["gate"]["steps"]
    return next(s for s in steps if s.get("name") == name)


def _run_workflow_step(tmp_path: Path, name: str, env: dict[str, str]) -> tuple[StepRun, str]:
    step = _workflow_step(name)
    workdir = tmp_path / "ws"
    workdir.mkdir(exist_ok=True)
    output = tmp_path / "out"
    output.write_text("", encoding="utf-8")
    full_env = {**_clean_env(), "GITHUB_OUTPUT": str(output), **env}
    result = run_step_script(step["run"], full_env, workdir, name)
    return result, output.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("deployed_at", "dispatch_after", "expected"),
    [
        ("2026-11-22T09:30:12Z", "", "2026-11-22T09:30:12Z"),
        ("", "2026-11-22T10:00:00+01:00", "2026-11-22T10:00:00+01:00"),
        ("", "", None),  # now
    ],
)
def test_deploy_time(
    tmp_path: Path, deployed_at: str, dispatch_after: str, expected: str | None
) -> None:
    step = _workflow_step("Deploy time")
    assert step["env"] == {
        "DEPLOYED_AT": "${{ github.event.deployment_status.created_at }}",
        "DISPATCH_AFTER": "${{ inputs.after }}",
    }
    before = datetime.now(timezone.utc).replace(microsecond=0)
    result, output = _run_workflow_step(
        tmp_path, "Deploy time", {"DEPLOYED_AT": deployed_at, "DISPATCH_AFTER": dispatch_after}
    )
    assert result.returncode == 0, result.stderr
    after = parse_github_output(output)["after"]
    if expected is not None:
        assert after == expected
    else:
        now = datetime.fromisoformat(after.replace("Z", "+00:00"))
        assert before <= now <= before + timedelta(seconds=5)


def test_deploy_time_rejects_injection(tmp_path: Path) -> None:
    result, output = _run_workflow_step(
        tmp_path, "Deploy time", {"DEPLOYED_AT": "", "DISPATCH_AFTER": "now\nstatus=pass"}
    )
    assert result.returncode == 1
    assert output == ""


def test_missing_secrets_fail_early(tmp_path: Path) -> None:
    env = {"POSTHOG_PERSONAL_API_KEY": "", "POSTHOG_PROJECT_ID": "1"}
    result, _ = _run_workflow_step(tmp_path, "Check the PostHog secrets", env)
    assert result.returncode == 1
    assert "the secret POSTHOG_PERSONAL_API_KEY is not set" in result.stdout
    env["POSTHOG_PERSONAL_API_KEY"] = "phx_x"
    result, _ = _run_workflow_step(tmp_path, "Check the PostHog secrets", env)
    assert result.returncode == 0
    assert "phx_x" not in result.stdout + result.stderr


# ---------------------------------------------------------------------------
# ci.yml runs the README's test command


def _commands(script: str) -> list[str]:
    return [
        part.strip()
        for line in script.splitlines()
        if line.strip() and not line.strip().startswith("#")
        for part in line.split("&&")
    ]


def test_ci_runs_the_readme_test_command() -> None:
    ci_run = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    last_line = [line for line in ci_run.splitlines() if line.strip() and not line.startswith("#")][
        -1
    ]
    readme_command = _commands(last_line)
    assert readme_command[-1] == "python -m pytest"
    assert last_line in (REPO / "README.md").read_text(encoding="utf-8")

    job = load_yaml(CI)["jobs"]["test"]
    scripts = [step["run"] for step in job["steps"] if "run" in step]
    install = [s for s in scripts if "pip install" in s]
    assert install and "-e '.[test]'" in install[0]
    assert "-e '.[test]'" in ci_run
    gate = [s for s in scripts if "--llmc-config" in s]  # the demo gate, beyond the tests
    tests = [c for s in scripts if s not in install and s not in gate for c in _commands(s)]
    assert tests == readme_command

    minimum = re.search(r'requires-python = ">=(\d+\.\d+)"', (REPO / "pyproject.toml").read_text())
    assert minimum is not None
    assert minimum[1] in job["strategy"]["matrix"]["python"]
