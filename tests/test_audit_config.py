"""The configuration is the API: one declaration per option, checked once, on every path."""

import dataclasses
import math
import re
import subprocess
import sys

import pytest

from audit._metrics import DEFAULT_THRESHOLDS, PROPORTION, YEARS
from audit.compare import compare_audits
from audit.config import AuditConfig, CompareConfig
from audit.engine import run_audit
from s2f.cli import build_parser, main
from speech2face.errors import InputError
from tests.test_audit_engine import make_predictions

BAD_AUDIT_OPTIONS = [
    ("threshold", math.nan, "--threshold must be a non-negative number, got nan"),
    ("threshold", -0.1, "--threshold must be a non-negative number, got -0.1"),
    ("n_boot", -5, "--n-boot must be an integer of at least 2, got -5"),
    ("n_boot", 0, "--n-boot must be an integer of at least 2, got 0"),
    ("seed", -1, "--seed must be an integer in [0, 2**32), got -1"),
    ("seed", 2**32, "--seed must be an integer in [0, 2**32), got 4294967296"),
    ("duration", math.inf, "--duration must be a positive number of seconds, got inf"),
    ("duration", 0, "--duration must be a positive number of seconds, got 0"),
    ("correction", "bonferroni", "--correction must be holm or bh, got 'bonferroni'"),
    ("level", math.nan, "--level must be between 0 and 1 (exclusive), got nan"),
    ("age_threshold", math.inf, "--age-threshold must be a non-negative number, got inf"),
    ("gallery_size", 1, "--gallery-size must be an integer of at least 2, got 1"),
    ("retrieval_distances", "l3", "--retrieval-distances must be comma-separated names from"),
    ("split", "dev", "--split must be one of train, val, test, all, got 'dev'"),
    ("reference", "male", "--reference must be 'best', 'overall' or column=group pairs"),
    ("thresholds", "distance=-1", "--thresholds: threshold of 'distance' must be a non-negative"),
]
BAD_COMPARE_OPTIONS = [
    ("threshold", math.nan, "--threshold must be a non-negative number, got nan"),
    ("threshold", -1.0, "--threshold must be a non-negative number, got -1.0"),
    ("correction", "bonferroni", "--correction must be holm or bh, got 'bonferroni'"),
    ("align", "loose", "--align must be strict or intersection, got 'loose'"),
]


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _cli_error(argv, capsys) -> str:
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(("name", "value", "message"), BAD_AUDIT_OPTIONS)
def test_bad_audit_options_are_one_input_error(name, value, message, capsys, tmp_path):
    with pytest.raises(InputError) as raised:
        AuditConfig(**{name: value})
    assert str(raised.value).startswith(message)
    with pytest.raises(InputError, match="^" + re.escape(message)):
        run_audit(tmp_path / "missing", **{name: value})
    argv = ["audit", str(tmp_path / "missing"), "--out", str(tmp_path / "a")]
    error = _cli_error([*argv, _flag(name), str(value)], capsys)
    assert error.startswith("s2f audit: error: " + message.split(", got")[0])


@pytest.mark.parametrize(("name", "value", "message"), BAD_COMPARE_OPTIONS)
def test_bad_compare_options_are_one_input_error(name, value, message, capsys, tmp_path):
    with pytest.raises(InputError) as raised:
        compare_audits([tmp_path / "a", tmp_path / "b"], **{name: value})
    assert str(raised.value) == message
    argv = ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "c")]
    error = _cli_error([*argv, _flag(name), str(value)], capsys)
    assert error == f"s2f compare: error: {message}"


def test_privacy_k_must_be_positive(capsys, tmp_path):
    audit = ["audit", str(tmp_path / "p"), "--out", str(tmp_path / "a"), "--privacy-k", "-3"]
    assert _cli_error(audit, capsys) == (
        "s2f audit: error: --privacy-k must be a positive integer, got -3"
    )
    compare = ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", "c"]
    assert _cli_error([*compare, "--privacy-k", "0"], capsys).endswith("got 0")


def test_unknown_keyword_is_named():
    with pytest.raises(InputError, match="unknown audit option 'n_bootstrap'"):
        run_audit(make_predictions(), n_bootstrap=10)
    with pytest.raises(InputError, match="unknown compare option 'alignment'"):
        compare_audits([], alignment="strict")


def _subparser(name: str):
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices[name]


@pytest.mark.parametrize(
    ("command", "config", "positional"),
    [("audit", AuditConfig, ["pred"]), ("compare", CompareConfig, ["a", "b"])],
)
def test_every_config_field_is_a_generated_flag_with_the_config_default(
    command, config, positional
):
    parser = _subparser(command)
    flags = {option: action for action in parser._actions for option in action.option_strings}
    args = parser.parse_args([*positional, "--out", "x"])
    defaults = config()
    for field in dataclasses.fields(config):
        action = flags[_flag(field.name)]
        assert action.dest == field.name
        assert action.help.startswith(field.metadata["help"].replace("%", "%%"))
        assert getattr(args, field.name) == getattr(defaults, field.name), field.name
    assert config(**{f.name: getattr(args, f.name) for f in dataclasses.fields(config)}) == (
        defaults
    )


def test_config_defaults_are_the_unit_thresholds():
    config = AuditConfig()
    assert config.threshold == DEFAULT_THRESHOLDS[PROPORTION]
    assert config.age_threshold == DEFAULT_THRESHOLDS[YEARS]


def test_cli_text_forms_parse_into_the_config():
    parser = _subparser("audit")
    argv = ["p", "--out", "x", "--slices", "gender, language", "--reference", "gender=male"]
    argv += ["--thresholds", "distance=20%", "--seed", "4294967295", "--exclude-invalid"]
    args = parser.parse_args(argv)
    config = AuditConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(AuditConfig)})
    assert config.slices == ("gender", "language")
    assert config.reference == {"gender": "male"}
    assert config.thresholds == {"distance": "20%"}
    assert config.seed == 2**32 - 1 and config.exclude_invalid


def test_keyword_form_and_config_form_give_identical_results():
    predictions = make_predictions(n_speakers=40, clips_per_speaker=2)
    options = {"n_boot": 30, "seed": 3, "slices": ["gender", "language"], "threshold": 0.1}
    by_keywords = run_audit(predictions, fairlearn_views=False, **options)
    config = AuditConfig(**options)
    by_config = run_audit(predictions, config, fairlearn_views=False)
    overridden = run_audit(
        predictions, dataclasses.replace(config, seed=9), seed=3, fairlearn_views=False
    )
    for other in (by_config, overridden):
        assert other.groups.equals(by_keywords.groups)
        assert other.tests.equals(by_keywords.tests)
        assert other.summary["config"] == by_keywords.summary["config"]
    assert by_keywords.summary["config"]["slices"] == ["gender", "language"]


def test_config_import_is_light():
    code = (
        "import sys, s2f.commands.audit, audit.config; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'numpy', 'pandas', 'scipy', 'torch', 'matplotlib'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
