"""Tests of synthesis.review: the review schema, overrides, study-data checks, the loader and the demo reviews."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from pydantic import BaseModel

from synthesis.errors import ReviewError
from synthesis.review import (
    ReviewSpec,
    list_review_ids,
    load_review,
    load_spec,
    parse_overrides,
    validate_review,
)

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = Path(__file__).parent / "data" / "metafor"
DEMOS = {
    "practice-facilitation": "baskerville2012_practice_facilitation.csv",
    "writing-to-learn": "bangertdrowns2004_writing_to_learn.csv",
    "cbt-offenders-at-scale": "landenberger2005_cbt_offenders.csv",
}

BASE_SPEC = {
    "id": "demo",
    "title": "A demo review",
    "question": {"population": "pupils", "intervention": "tutoring", "comparison": "usual teaching",
                 "outcome": "reading", "plain_question": "Does tutoring help pupils read?"},
    "effect": {"measure": "SMD", "columns": {"yi": "yi", "vi": "vi"}},
    "data": {"file": "studies.csv", "study_label": "study"},
    "seed": 1,
    "provenance": {"citation": "A. Author (2020)", "source": "made up for a test", "licence": "CC0"},
}
BASE_CSV = "study,yi,vi,group\nA,0.1,0.01,x\nB,0.3,0.02,y\nC,0.2,0.015,x\n"


def write_review(project: Path, spec: dict | str | None = None, csv: str | None = BASE_CSV,
                 review_id: str = "demo", **changes) -> Path:
    """Write reviews/<id>/review.yaml (+ studies.csv) under ``project``; ``changes`` update the spec."""
    folder = project / "reviews" / review_id
    folder.mkdir(parents=True, exist_ok=True)
    if spec is None:
        spec = json.loads(json.dumps(BASE_SPEC))
        spec["id"] = review_id
        spec.update(changes)
    text = spec if isinstance(spec, str) else yaml.safe_dump(spec, sort_keys=False)
    (folder / "review.yaml").write_text(text)
    if csv is not None:
        (folder / "studies.csv").write_text(csv)
    return folder


def problems(project: Path, review_id: str = "demo", overrides=None) -> str:
    with pytest.raises(ReviewError) as info:
        validate_review(review_id, project, overrides)
    return str(info.value)


# ---------------------------------------------------------------- demo reviews
@pytest.mark.parametrize("review_id", sorted(DEMOS))
def test_demo_review_reproduces_reference_effect_sizes(review_id):
    review = load_review(review_id, ROOT)
    reference = pd.read_csv(REFERENCE / DEMOS[review_id])
    assert len(review.data) == len(reference)
    np.testing.assert_allclose(review.data["yi"], reference["yi"], rtol=1e-6)
    np.testing.assert_allclose(review.data["vi"], reference["vi"], rtol=1e-6)
    np.testing.assert_allclose(review.data["sei"], np.sqrt(reference["vi"]), rtol=1e-6)


@pytest.mark.parametrize("review_id", sorted(DEMOS))
def test_demo_review_keeps_original_columns_and_adds_standard_ones(review_id):
    review = load_review(review_id, ROOT)
    reference = pd.read_csv(REFERENCE / DEMOS[review_id])
    for column in reference.columns:
        if column in ("study", "yi", "vi"):
            continue
        assert column in review.data.columns
    assert list(review.data.columns[-4:]) == ["study", "yi", "vi", "sei"]
    assert review.data["study"].is_unique
    assert review.data_files == [ROOT / "reviews" / review_id / "studies.csv"]
    assert review.folder == ROOT / "reviews" / review_id
    assert review.spec.id == review_id


def test_demo_review_settings_are_json_and_complete():
    review = load_review("cbt-offenders-at-scale", ROOT)
    settings = review.settings()
    assert json.loads(json.dumps(settings)) == settings
    assert settings["effect"]["measure"] == "OR"
    assert settings["analysis"] == {"method": "REML", "test": "z", "level": 0.95, "dependence": "che", "rho": 0.6}
    assert settings["decision"]["baseline_risk"] == 0.68
    assert settings["provenance"]["simulated"] is False
    assert settings["bayes"]["sampler"] in ("nutpie", "pymc")
    assert review.spec.subgroup == "program"
    program = review.spec.moderators[0]
    assert (program.name, program.reference) == ("program", "research")
    assert program.level_labels["practice"] == "routine practice"


def test_demo_baseline_risk_matches_the_control_groups():
    data = pd.read_csv(REFERENCE / DEMOS["cbt-offenders-at-scale"])
    pooled = data["n.ctrl.non"].sum() / (data["n.ctrl.non"] + data["n.ctrl.rec"]).sum()
    assert load_spec("cbt-offenders-at-scale", ROOT).decision.baseline_risk == pytest.approx(pooled, abs=0.005)


def test_demo_labels_and_citations():
    review = load_review("practice-facilitation", ROOT)
    labels = review.data["study"].tolist()
    assert labels[0] == "Kottke et al. (1992)"
    assert "Aspy et al. (2008a)" in labels and "Aspy et al. (2008b)" in labels
    assert review.citations().tolist() == labels
    strategies = review.strategies()
    assert set(strategies["strategy"]) == {"facilitation"}
    assert set(strategies["cluster_label"]) == {"Provide interactive assistance"}
    assert load_review("writing-to-learn", ROOT).spec.decision.months_progress is True


def test_categorical_reference_takes_the_type_of_the_data():
    review = load_review("writing-to-learn", ROOT)
    meta = next(m for m in review.spec.moderators if m.name == "meta")
    assert meta.reference == 0 and isinstance(meta.reference, float)  # the column is float (it has NAs)
    assert meta.level_labels == {"0": "no prompts", "1": "metacognitive prompts"}


def test_list_review_ids(tmp_path):
    assert set(DEMOS) <= set(list_review_ids(ROOT))
    assert list_review_ids(tmp_path) == []
    write_review(tmp_path)
    (tmp_path / "reviews" / "not-a-review").mkdir()
    assert list_review_ids(tmp_path) == ["demo"]


# ---------------------------------------------------------------- schema
def test_minimal_review_loads_with_defaults(tmp_path):
    write_review(tmp_path)
    review = load_review("demo", tmp_path)
    assert review.spec.analysis.method == "REML"
    assert review.spec.bayes.enabled and review.spec.bayes.chains == 4
    assert review.spec.certainty.indirectness is None
    assert review.data["study"].tolist() == ["A", "B", "C"]
    np.testing.assert_allclose(review.data["sei"], np.sqrt([0.01, 0.02, 0.015]))
    assert review.n_studies == 3 and review.notes == []


def test_unknown_key_suggests_the_right_one(tmp_path):
    write_review(tmp_path, analysis={"methd": "DL"})
    message = problems(tmp_path)
    assert "reviews/demo/review.yaml: key 'analysis.methd': unknown setting; did you mean 'method'?" in message
    assert "(line " in message


def test_unknown_top_level_key(tmp_path):
    write_review(tmp_path, moderator=[])
    assert "key 'moderator': unknown setting; did you mean 'moderators'?" in problems(tmp_path)


def test_every_schema_problem_is_reported_at_once(tmp_path):
    write_review(tmp_path, analysis={"methd": "DL", "level": 1.5}, seed=-1)
    with pytest.raises(ReviewError) as info:
        validate_review("demo", tmp_path)
    lines = str(info.value).splitlines()
    assert len(lines) == len(info.value.problems) == 3
    assert any("'analysis.methd'" in line for line in lines)
    assert any("'analysis.level'" in line and "1.5" in line for line in lines)
    assert any("'seed'" in line for line in lines)
    assert all(line.startswith("reviews/demo/review.yaml") for line in lines)


def test_missing_key_and_bad_choice(tmp_path):
    spec = json.loads(json.dumps(BASE_SPEC))
    del spec["question"]["outcome"]
    spec["analysis"] = {"method": "RMEL"}
    write_review(tmp_path, spec)
    message = problems(tmp_path)
    assert "key 'question.outcome' is missing" in message
    assert "key 'analysis.method': 'RMEL' is not allowed" in message and "did you mean 'REML'?" in message


def test_method_and_measure_are_case_insensitive(tmp_path):
    write_review(tmp_path, analysis={"method": "dl", "test": "KNHA"},
                 effect={"measure": "smd", "columns": {"yi": "yi", "vi": "vi"}})
    spec = load_spec("demo", tmp_path)
    assert (spec.analysis.method, spec.analysis.test, spec.effect.measure) == ("DL", "knha", "SMD")


def test_effect_columns_must_fit_the_measure(tmp_path):
    write_review(tmp_path, effect={"measure": "OR", "columns": {"ai": "a", "bi": "b"}})
    message = problems(tmp_path)
    assert "measure OR needs the columns (ai, bi, ci, di) or (ai, n1i, ci, n2i)" in message
    assert "given: ai, bi" in message


def test_unknown_effect_argument_suggests(tmp_path):
    write_review(tmp_path, effect={"measure": "SMD", "columns": {"m1": "a", "sd1i": "b"}})
    message = problems(tmp_path)
    assert "key 'effect.columns.m1'" in message and "did you mean 'm1i'?" in message


def test_id_must_match_folder_and_be_a_slug(tmp_path):
    write_review(tmp_path, id="other")
    assert "key 'id': 'other' does not match the folder name 'demo'" in problems(tmp_path)
    with pytest.raises(ReviewError, match="not a valid review id"):
        load_review("Demo Review", tmp_path)


@pytest.mark.parametrize("changes, expected", [
    ({"subgroup": "grup", "moderators": [{"name": "group", "type": "categorical"}]},
     "key 'subgroup': 'grup' is not one of the moderators; did you mean 'group'?"),
    ({"subgroup": "yi", "moderators": [{"name": "yi", "type": "continuous"}]},
     "subgroups need a categorical moderator"),
    ({"moderators": [{"name": "group", "type": "categorical"}, {"name": "group", "type": "categorical"}]},
     "'group' is listed twice"),
    ({"moderators": [{"name": "yi", "type": "continuous", "reference": 0}]},
     "is continuous, so it has no reference level"),
    ({"moderators": [{"name": "group", "type": "ordinal"}]},
     "key 'moderators.0.type': 'ordinal' is not allowed; choose one of categorical, continuous"),
    ({"decision": {"months_progress": True}, "effect": {"measure": "OR", "columns": {"yi": "yi", "vi": "vi"}}},
     "months' progress converts standardised mean differences"),
    ({"decision": {"baseline_risk": 1.2}}, "key 'decision.baseline_risk'"),
    ({"decision": {"mid": -0.1}}, "key 'decision.mid'"),
    ({"certainty": {"indirectness": "serious"}}, "key 'certainty.indirectness_reason'"),
    ({"certainty": {"indirectness": "somewhat"}}, "key 'certainty.indirectness'"),
    ({"bayes": {"tau_prior": "half_normal", "chains": 0}}, "key 'bayes.chains'"),
    ({"bayes": {"sampler": "stan"}}, "key 'bayes.sampler': 'stan' is not allowed"),
    ({"data": {"file": "studies.csv"}}, "give either study_label"),
    ({"data": {"study_label": "study", "one_effect_per_study": False}}, "key 'data.study_id'"),
    ({"data": {"study_label": "study", "label_template": "{study}"}}, "not both or neither"),
    ({"data": {"label_template": "{study.__class__}"}}, "plain column names"),
    ({"provenance": {"citation": "c", "source": "s", "licence": "l", "search_date": "last year"}},
     "key 'provenance.search_date'"),
    ({"strategy": {"column": "group", "taxonomy": "erik"}}, "key 'strategy.taxonomy': 'erik' is not allowed"),
    ({"strategy": {"name": "audit and feedbak"}}, "did you mean 'audit_and_provide_feedback'?"),
    ({"strategy": {"column": "group", "name": "facilitation"}}, "give either column"),
    ({"strategy": {"name": "facilitation", "class_column": "group"}}, "class_column and components_column need column"),
    ({"strategy": {"column": "group", "extra_strategies": [{"id": "peer_review", "label": "Peer review",
                                                            "cluster": "nowhere"}]}},
     "'nowhere' is not a known ERIC cluster"),
    ({"title": "  "}, "key 'title'"),
])
def test_schema_rules(tmp_path, changes, expected):
    write_review(tmp_path, **changes)
    assert expected in problems(tmp_path)


def test_indirectness_spellings(tmp_path):
    write_review(tmp_path, certainty={"indirectness": "Very serious", "indirectness_reason": "other country"})
    assert load_spec("demo", tmp_path).certainty.indirectness == "very_serious"
    write_review(tmp_path, certainty={"indirectness": False})  # YAML reads a bare `no` as false
    assert load_spec("demo", tmp_path).certainty.indirectness == "none"


def test_search_date_from_yaml_date(tmp_path):
    text = yaml.safe_dump(BASE_SPEC, sort_keys=False).replace(
        "licence: CC0", "licence: CC0\n  search_date: 2010-11-30")
    write_review(tmp_path, text)
    assert load_spec("demo", tmp_path).provenance.search_date == "2010-11-30"


def test_spec_validates_directly():
    spec = ReviewSpec.model_validate(BASE_SPEC)
    assert spec.effect.pass_through and spec.seed == 1
    with pytest.raises(ValueError):
        ReviewSpec.model_validate({**BASE_SPEC, "unknown": 1})


# ---------------------------------------------------------------- YAML safety
def test_python_tag_is_refused_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    text = yaml.safe_dump(BASE_SPEC, sort_keys=False) + f"extra: !!python/object/apply:os.system ['touch {marker}']\n"
    write_review(tmp_path, text)
    message = problems(tmp_path)
    assert "reviews/demo/review.yaml, line" in message
    assert "'!!python/object/apply:os.system' is not allowed" in message
    assert not marker.exists()


def test_yaml_syntax_error_names_the_line(tmp_path):
    write_review(tmp_path, "id: demo\ntitle: [unclosed\nseed: 1\n")
    message = problems(tmp_path)
    assert message.startswith("reviews/demo/review.yaml, line ") and "not valid YAML" in message


def test_duplicate_yaml_keys(tmp_path):
    write_review(tmp_path, yaml.safe_dump(BASE_SPEC, sort_keys=False) + "seed: 2\n")
    assert "key 'seed' appears twice" in problems(tmp_path)


@pytest.mark.parametrize("text, expected", [("", "the file is empty"), ("- a\n- b\n", "not a list"),
                                             ("just text", "not a str")])
def test_yaml_must_be_a_mapping(tmp_path, text, expected):
    write_review(tmp_path, text)
    assert expected in problems(tmp_path)


# ---------------------------------------------------------------- paths
@pytest.mark.parametrize("file", ["../other.csv", "/etc/passwd.csv", "sub/../../x.csv", "studies.txt"])
def test_data_file_must_stay_in_the_folder(tmp_path, file):
    write_review(tmp_path, data={"file": file, "study_label": "study"})
    assert "key 'data.file'" in problems(tmp_path)


def test_symlinked_data_file_outside_is_refused(tmp_path):
    outside = tmp_path / "secret.csv"
    outside.write_text(BASE_CSV)
    folder = write_review(tmp_path, csv=None)
    os.symlink(outside, folder / "studies.csv")
    assert "points outside reviews/demo/" in problems(tmp_path)


def test_symlinked_review_folder_outside_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    write_review(elsewhere)
    (tmp_path / "reviews").mkdir()
    os.symlink(elsewhere / "reviews" / "demo", tmp_path / "reviews" / "demo")
    assert "points outside reviews/" in problems(tmp_path)


@pytest.mark.parametrize("review_id", ["../demo", "/etc", "demo/..", "", "a_b"])
def test_review_id_escaping_is_refused(tmp_path, review_id):
    write_review(tmp_path)
    assert "not a valid review id" in problems(tmp_path, review_id)


def test_unknown_review_lists_the_known_ones(tmp_path):
    write_review(tmp_path)
    message = problems(tmp_path, "demoo")
    assert "no review 'demoo'" in message and "did you mean 'demo'?" in message


# ---------------------------------------------------------------- overrides
def test_parse_overrides_reads_yaml_values():
    parsed = parse_overrides(["analysis.method=DL", "bayes.draws=200", "bayes.enabled=false",
                              "title='A: b'", "moderators.0.reference=rct", "bayes.draws=300"])
    assert parsed == {"analysis.method": "DL", "bayes.draws": 300, "bayes.enabled": False,
                      "title": "A: b", "moderators.0.reference": "rct"}


@pytest.mark.parametrize("item, expected", [
    ("analysis.method", "write it as key=value"),
    ("=DL", "is not a setting name"),
    ("analysis..method=DL", "is not a setting name"),
    ("analysis.method=[unclosed", "the value cannot be read"),
    ("x=!!python/object/apply:os.system ['true']", "the value cannot be read"),
])
def test_malformed_overrides_name_the_item(item, expected):
    with pytest.raises(ReviewError) as info:
        parse_overrides([item])
    assert expected in str(info.value) and repr(item) in str(info.value)


def test_overrides_are_applied_and_validated(tmp_path):
    write_review(tmp_path, moderators=[{"name": "group", "type": "categorical", "reference": "x"}])
    review = load_review("demo", tmp_path, parse_overrides(
        ["analysis.method=DL", "bayes.draws=200", "moderators.0.reference=y", "certainty.indirectness=serious",
         "certainty.indirectness_reason=other country"]))
    assert review.spec.analysis.method == "DL" and review.spec.bayes.draws == 200
    assert review.spec.moderators[0].reference == "y"
    assert review.settings()["analysis"]["method"] == "DL"
    # nested dicts merge into the block instead of replacing it
    spec = load_spec("demo", tmp_path, {"bayes": {"chains": 2}, "bayes.draws": 300})
    assert (spec.bayes.chains, spec.bayes.draws) == (2, 300)
    # ... but a mapping value (effect.columns) is replaced as a whole
    write_review(tmp_path, csv="study,d,se\nA,0.1,0.1\n")
    spec = load_spec("demo", tmp_path, {"effect.columns": {"yi": "d", "sei": "se"}})
    assert spec.effect.columns == {"yi": "d", "sei": "se"}


def test_unknown_override_key_suggests(tmp_path):
    write_review(tmp_path)
    message = problems(tmp_path, overrides={"analysis.methd": "DL"})
    assert "override analysis.methd='DL': key 'analysis.methd': unknown setting; did you mean 'method'?" in message
    assert "did you mean 'analysis'?" in problems(tmp_path, overrides={"analysys.method": "DL"})


@pytest.mark.parametrize("overrides, expected", [
    ({"analysis.level": 2}, "key 'analysis.level'"),
    ({"id": "other"}, "cannot be overridden"),
    ({"seed.value": 1}, "'seed' is a single value"),
    ({"moderators.3.reference": "x"}, "does not exist"),
    ({"effect.measure": "OR", "effect.columns": {"ai": "yi", "bi": "vi"}}, "measure OR needs the columns"),
])
def test_bad_overrides(tmp_path, overrides, expected):
    write_review(tmp_path)
    assert expected in problems(tmp_path, overrides=overrides)


# ---------------------------------------------------------------- data checks
def test_negative_variance_names_file_row_and_column(tmp_path):
    rows = "\n".join(f"S{i},0.{i},0.0{i + 1}" for i in range(1, 20))
    csv = "study,yi,vi\n" + rows.replace("S14,0.14,0.015", "S14,0.14,-0.02") + "\n"
    write_review(tmp_path, csv=csv)
    assert problems(tmp_path) == ("reviews/demo/studies.csv, row 14 (line 15 of the file), column 'vi': "
                                  "-0.02 is not a valid variance (must be > 0)")


def test_line_numbers_follow_quoted_line_breaks(tmp_path):
    csv = 'study,yi,vi\n"A\nsecond line",0.1,0.01\nB,0.2,-1\n'
    write_review(tmp_path, csv=csv)
    assert "row 2 (line 4 of the file), column 'vi'" in problems(tmp_path)


def test_all_data_problems_are_reported(tmp_path):
    csv = "study,yi,vi\nA,0.1,0.01\nB,abc,0.02\nC,0.2,0\nD,0.3,-1\n"
    write_review(tmp_path, csv=csv)
    with pytest.raises(ReviewError) as info:
        validate_review("demo", tmp_path)
    lines = info.value.problems
    assert lines == [
        "reviews/demo/studies.csv, row 2 (line 3 of the file), column 'yi': 'abc' is not a number; "
        "fix the value or leave the cell empty",
        "reviews/demo/studies.csv, row 3 (line 4 of the file), column 'vi': 0 is not a valid variance (must be > 0)",
        "reviews/demo/studies.csv, row 4 (line 5 of the file), column 'vi': -1 is not a valid variance (must be > 0)",
    ]


def test_many_bad_cells_are_summarised(tmp_path):
    csv = "study,yi,vi\n" + "".join(f"S{i},0.1,-1\n" for i in range(12))
    write_review(tmp_path, csv=csv)
    lines = problems(tmp_path).splitlines()
    assert len(lines) == 6
    assert lines[-1].startswith("reviews/demo/studies.csv, column 'vi': the same problem in 7 more rows (rows 6, ")


def test_missing_columns_list_the_available_ones(tmp_path):
    write_review(tmp_path, effect={"measure": "SMD", "columns": {"yi": "y", "vi": "vi"}},
                 moderators=[{"name": "grup", "type": "categorical"}])
    message = problems(tmp_path)
    assert ("reviews/demo/studies.csv: column 'y' (named in review.yaml as effect.columns.yi) not found; "
            "did you mean 'yi'? The file has the columns: study, yi, vi, group") in message
    assert "column 'grup' (named in review.yaml as moderators (grup)) not found; did you mean 'group'?" in message


def test_validate_checks_the_sensitivity_grids_design_column(tmp_path):
    """validate refuses what the run's sensitivity multiverse would: a design column the data lack."""
    write_review(tmp_path, sensitivity={"randomised": {"column": "grup", "values": ["a"]}})
    assert ("column 'grup' (named in review.yaml as sensitivity.randomised.column) not found; "
            "did you mean 'group'?") in problems(tmp_path)


@pytest.mark.parametrize("csv, expected", [
    ("", "the file is empty"),
    ("study,yi,vi\n", "no studies"),
    ("study,yi,yi\nA,1,2\n", "repeats the column name(s) 'yi'"),
    ("study,yi,\nA,1,2\n", "empty column name"),
])
def test_unusable_files(tmp_path, csv, expected):
    write_review(tmp_path, csv=csv)
    assert expected in problems(tmp_path)


def test_missing_data_file(tmp_path):
    write_review(tmp_path, csv=None)
    assert "reviews/demo/studies.csv: file not found" in problems(tmp_path)


def test_sei_and_standard_errors(tmp_path):
    write_review(tmp_path, csv="study,d,se\nA,0.1,0.1\nB,0.2,0\n",
                 effect={"measure": "SMD", "columns": {"yi": "d", "sei": "se"}})
    assert ("row 2 (line 3 of the file), column 'se': 0 is not a valid standard error (must be > 0)"
            in problems(tmp_path))


SMD_SPEC = {"measure": "SMD", "columns": {"m1i": "m1", "sd1i": "sd1", "n1i": "n1",
                                          "m2i": "m2", "sd2i": "sd2", "n2i": "n2"}}


def test_smd_from_means_and_negative_sd(tmp_path):
    csv = "study,m1,sd1,n1,m2,sd2,n2\nA,10,2,20,9,2,20\nB,11,-3,25,10,3,25\nC,12,3,0,10,3,30\n"
    write_review(tmp_path, csv=csv, effect=SMD_SPEC)
    message = problems(tmp_path)
    assert "row 2 (line 3 of the file), column 'sd1': -3 is not a valid standard deviation (must be > 0)" in message
    assert "row 3 (line 4 of the file), column 'n1': 0 is not a valid number of participants" in message
    write_review(tmp_path, csv="study,m1,sd1,n1,m2,sd2,n2\nA,10,2,20,9,2,20\nB,11,3,25,10,0,1\n", effect=SMD_SPEC)
    assert problems(tmp_path).splitlines() == [
        "reviews/demo/studies.csv, row 2 (line 3 of the file), column 'sd2': 0 is not a valid standard deviation "
        "(must be > 0)",
        "reviews/demo/studies.csv, row 2 (line 3 of the file), column 'n2': 1 is not a valid number of "
        "participants (must be at least 2 in each group: a standard deviation needs two)"]
    # a second study: a review pools at least two (MIN_STUDIES_TO_POOL)
    write_review(tmp_path, csv="study,m1,sd1,n1,m2,sd2,n2\nA,10,2,20,9,2,20\nB,11,3,25,10,3,25\n", effect=SMD_SPEC)
    review = load_review("demo", tmp_path)
    d = (10 - 9) / 2 * (1 - 3 / (4 * 38 - 1))  # Hedges' g, approximate correction: independent check
    assert review.data["yi"].iloc[0] == pytest.approx(d, rel=1e-4)


OR_SPEC = {"measure": "OR", "columns": {"ai": "a", "n1i": "n1", "ci": "c", "n2i": "n2"}}


def test_counts_must_be_possible(tmp_path):
    csv = "study,a,n1,c,n2\nA,5,20,3,20\nB,25,20,3,20\nC,2.5,20,3,20\nD,-1,20,3,20\n"
    write_review(tmp_path, csv=csv, effect=OR_SPEC)
    message = problems(tmp_path)
    assert ("reviews/demo/studies.csv, row 2 (line 3 of the file), column 'a': 25 events but only 20 "
            "participants in column 'n1'; check the counts") in message
    assert "row 3 (line 4 of the file), column 'a': 2.5 is not a valid count" in message
    assert "row 4 (line 5 of the file), column 'a': -1 is not a valid count" in message


def test_odds_ratio_from_counts(tmp_path):
    # a second study: a review pools at least two (MIN_STUDIES_TO_POOL)
    write_review(tmp_path, csv="study,a,n1,c,n2\nA,5,20,3,20\nB,4,20,6,20\n", effect=OR_SPEC)
    review = load_review("demo", tmp_path)
    assert review.data["yi"].iloc[0] == pytest.approx(np.log(5 * 17 / (15 * 3)))
    assert review.data["vi"].iloc[0] == pytest.approx(1 / 5 + 1 / 15 + 1 / 3 + 1 / 17)


def test_correlations_must_lie_between_minus_one_and_one(tmp_path):
    write_review(tmp_path, csv="study,r,n\nA,0.3,50\nB,1.2,40\n",
                 effect={"measure": "ZCOR", "columns": {"ri": "r", "ni": "n"}})
    assert "row 2 (line 3 of the file), column 'r': 1.2 is not a valid correlation" in problems(tmp_path)


def test_missing_effect_value_is_a_note(tmp_path):
    write_review(tmp_path, csv="study,yi,vi\nA,0.1,0.01\nB,,0.02\nC,0.3,0.01\n")
    review = load_review("demo", tmp_path)
    assert np.isnan(review.data["yi"].iloc[1])
    assert any("row 2 (line 3 of the file): no value in 'yi'" in note for note in review.notes)


def test_fully_duplicated_rows(tmp_path):
    write_review(tmp_path, csv="study,yi,vi\nA,0.1,0.01\nB,0.2,0.02\nA,0.1,0.01\n")
    assert ("reviews/demo/studies.csv: rows 1 and 3 (lines 2 and 4) are identical; delete the repeated row"
            in problems(tmp_path))


def test_duplicate_study_ids_when_one_effect_per_study(tmp_path):
    csv = "sid,study,yi,vi\n1,A,0.1,0.01\n2,B,0.2,0.02\n1,A2,0.3,0.01\n"
    write_review(tmp_path, csv=csv, data={"study_label": "study", "study_id": "sid"})
    assert "column 'sid': study '1' appears in rows 1 and 3 (lines 2 and 4)" in problems(tmp_path)
    write_review(tmp_path, csv=csv, data={"study_label": "study", "study_id": "sid", "one_effect_per_study": False})
    review = load_review("demo", tmp_path)
    assert (review.n_studies, review.n_effects) == (2, 3)
    assert "3 effect sizes" in review.summary()


def test_label_template_and_repeated_labels(tmp_path):
    csv = "author,year,yi,vi\nSmith,2001,0.1,0.01\nJones,2003,0.2,0.02\nSmith,2001,0.3,0.01\nLee,,0.3,0.02\n"
    write_review(tmp_path, csv=csv, data={"label_template": "{author} ({year})"})
    review = load_review("demo", tmp_path)
    assert review.data["study"].tolist() == ["Smith (2001a)", "Jones (2003)", "Smith (2001b)", "Lee ()"]
    assert any("told apart with letters" in note for note in review.notes)


def test_missing_study_label(tmp_path):
    write_review(tmp_path, csv="study,yi,vi\nA,0.1,0.01\n,0.2,0.02\n")
    assert "row 2 (line 3 of the file), column 'study': no study label" in problems(tmp_path)


def test_moderator_checks(tmp_path):
    csv = "study,yi,vi,group,dose\nA,0.1,0.01,x,1\nB,0.2,0.02,y,two\nC,0.3,0.01,x,3\n"
    write_review(tmp_path, csv=csv, moderators=[
        {"name": "group", "type": "categorical", "reference": "z", "level_labels": {"x": "ex", "w": "double-u"}},
        {"name": "dose", "type": "continuous"}])
    message = problems(tmp_path)
    assert "column 'group': the reference level 'z' (moderators: group) does not occur; the levels are x, y" in message
    assert "column 'group': level_labels names the level 'w', which does not occur" in message
    assert ("row 2 (line 3 of the file), column 'dose': 'two' is not a number, but the moderator is continuous"
            in message)


def test_yes_no_reference_levels(tmp_path):
    csv = "study,yi,vi,flag\nA,0.1,0.01,yes\nB,0.2,0.02,no\n"
    write_review(tmp_path, csv=csv, moderators=[{"name": "flag", "type": "categorical", "reference": False}])
    assert load_review("demo", tmp_path).spec.moderators[0].reference == "no"


STRATEGY_CSV = ("sid,study,yi,vi,strategy,cluster,components\n"
                "1,A,0.1,0.01,Audit and feedback,use evaluative and iterative strategies,\n"
                "1,A,0.2,0.02,reminders,support clinicians,\n"
                "2,B,0.3,0.01,A&F + reminders,,audit and feedback;remind clinicians\n"
                "3,C,0.3,0.02,peer review,support clinicians,\n"
                "4,D,0.4,0.02,outreach,train and educate stakeholders,\n")
STRATEGY_DATA = {"study_label": "study", "study_id": "sid", "one_effect_per_study": False}


def test_strategies_with_mapping_extra_and_components(tmp_path):
    write_review(tmp_path, csv=STRATEGY_CSV, data=STRATEGY_DATA, strategy={
        "column": "strategy", "class_column": "cluster", "components_column": "components",
        "mapping": {"outreach": "conduct educational outreach visits"},
        "extra_strategies": [{"id": "peer_review", "label": "Peer review", "cluster": "Support clinicians"}]})
    review = load_review("demo", tmp_path)
    table = review.strategies()
    assert [None if pd.isna(x) else x for x in table["strategy"]] == [
        "audit_and_provide_feedback", "remind_clinicians", None, "peer_review", "conduct_educational_outreach_visits"]
    assert table["components"].iloc[2] == "audit_and_provide_feedback;remind_clinicians"
    assert table["components"].iloc[0] == "audit_and_provide_feedback"
    assert table["label"].iloc[2] == "A&F + reminders"  # a multi-component arm keeps its own name
    assert table["cluster"].iloc[3] == "support_clinicians"
    assert review.notes == []
    assert (review.n_studies, review.n_effects) == (4, 5)


def test_unknown_strategy_lists_known_ones(tmp_path):
    write_review(tmp_path, csv=STRATEGY_CSV, data=STRATEGY_DATA, strategy={
        "column": "strategy", "class_column": "cluster", "components_column": "components"})
    message = problems(tmp_path)
    assert ("reviews/demo/studies.csv: row 4 (line 5 of the file), column 'strategy': 'peer review' is not a "
            "known ERIC strategy") in message
    assert "row 5 (line 6 of the file), column 'strategy': 'outreach' is not a known ERIC strategy" in message
    assert "A&F + reminders" not in message  # the name of a multi-component arm is free
    assert "known ERIC strategies (ids; labels and common names also work): access_new_funding," in message
    assert "remind_clinicians" in message


def test_unknown_component_and_cluster(tmp_path):
    csv = ("study,yi,vi,strategy,cluster,components\n"
           "A,0.1,0.01,reminders,support clinicians,\n"
           "B,0.3,0.01,educational outreach,train and educate stakeholders,educational outreach;reminderz\n"
           "C,0.3,0.02,reminders,suport clinicans,\n")
    write_review(tmp_path, csv=csv, strategy={
        "column": "strategy", "class_column": "cluster", "components_column": "components"})
    message = problems(tmp_path)
    assert ("row 2 (line 3 of the file), column 'components': 'reminderz' is not a known ERIC strategy; "
            "did you mean 'remind_clinicians'?") in message
    assert ("row 3 (line 4 of the file), column 'cluster': 'suport clinicans' is not a ERIC cluster; "
            "did you mean 'Support clinicians'?") in message


def test_class_that_differs_from_the_taxonomy_is_a_note(tmp_path):
    csv = "study,yi,vi,strategy,cluster\nA,0.1,0.01,reminders,engage consumers\nB,0.2,0.02,facilitation,\n"
    write_review(tmp_path, csv=csv, strategy={"column": "strategy", "class_column": "cluster"})
    review = load_review("demo", tmp_path)
    assert any("'engage consumers' differs from the ERIC cluster of Remind clinicians" in n for n in review.notes)


def test_other_taxonomies(tmp_path):
    csv = "study,yi,vi,strategy\nA,0.1,0.01,knowledge brokering\nB,0.2,0.02,co-production\n"
    write_review(tmp_path, csv=csv, strategy={"column": "strategy", "taxonomy": "kmb"})
    assert load_review("demo", tmp_path).strategies()["cluster"].tolist() == ["interaction", "agreement"]


def test_risk_of_bias_and_sample_size_columns(tmp_path):
    csv = "study,yi,vi,rob,n\nA,0.1,0.01,low,40\nB,0.2,0.02,dreadful,0\n"
    write_review(tmp_path, csv=csv, certainty={"risk_of_bias_column": "rob", "sample_size_column": "n"})
    message = problems(tmp_path)
    assert "reviews/demo/studies.csv: column 'rob' has unknown risk-of-bias ratings in row 2 ('dreadful')" in message
    assert "row 2 (line 3 of the file), column 'n': a number of participants must be at least 1" in message


# ---------------------------------------------------------------- the documented settings
def documented_block() -> str:
    text = (ROOT / "docs" / "review-yaml.md").read_text()
    return text.split("```yaml\n", 1)[1].split("```", 1)[0]


def leaf_paths(value, path=()):
    """(path, value) of every setting in a parsed YAML mapping (list items numbered)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaf_paths(item, path + (key,))
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        for i, item in enumerate(value):
            yield from leaf_paths(item, path + (i,))
    else:
        yield path, value


def schema_settings(model=ReviewSpec, path=()):
    """Dotted paths of every setting of the schema (list items and optional blocks opened)."""
    for name, info in model.model_fields.items():
        yield path + (name,)
        for candidate in _models_in(info.annotation):
            yield from schema_settings(candidate, path + (name,))


def _models_in(annotation):
    import typing
    args = typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if typing.get_origin(annotation) is dict:
        return []
    return [m for a in args for m in _models_in(a)]


def test_documented_example_is_a_valid_spec():
    spec = ReviewSpec.model_validate(yaml.safe_load(documented_block()))
    assert spec.id == "practice-facilitation" and spec.strategy.extra_strategies[0].aliases == ["nudge letters"]


def test_every_setting_of_the_schema_is_documented():
    block = documented_block()
    written = {tuple(p for p in path if not isinstance(p, int)) for path, _ in leaf_paths(yaml.safe_load(block))}
    written |= {path[:n] for path in written for n in range(1, len(path))}
    commented = {line.split("#", 1)[1].split(":", 1)[0].strip() for line in block.splitlines() if "#" in line}
    missing = [".".join(path) for path in schema_settings()
               if path not in written and path[-1] not in commented]
    assert not missing, f"not in docs/review-yaml.md: {missing}"


def test_every_allowed_choice_is_documented():
    import re
    import typing

    block = documented_block()
    words = set(re.findall(r"[\w²]+", block))
    missing = []
    for path in schema_settings():
        model = ReviewSpec
        for part in path[:-1]:
            model = _models_in(model.model_fields[part].annotation)[0]
        annotation = model.model_fields[path[-1]].annotation
        for candidate in [annotation, *typing.get_args(annotation)]:
            if typing.get_origin(candidate) is typing.Literal:
                missing += [f"{'.'.join(path)}: {c}" for c in typing.get_args(candidate) if c not in words]
    assert not missing, f"choices not in docs/review-yaml.md: {missing}"


def test_every_documented_key_misspelt_is_refused_with_a_did_you_mean(tmp_path):
    documented = yaml.safe_load(documented_block())
    keys = {path[: i + 1] for path, _ in leaf_paths(documented) for i in range(len(path))
            if not isinstance(path[i], int)}
    keys = {k for k in keys if k[:2] not in (("effect", "columns"), ("strategy", "mapping"))
            and "level_labels" not in k[:-1]}
    assert len(keys) > 60
    unheard = []
    for key in sorted(keys, key=str):
        spec = json.loads(json.dumps(documented))
        parent = spec
        for part in key[:-1]:
            parent = parent[part]
        typo = key[-1][:-1] + "x" if len(key[-1]) > 3 else key[-1] + "x"
        parent[typo] = parent.pop(key[-1])
        where = ".".join(str(p) for p in key[:-1] + (typo,))
        try:
            ReviewSpec.model_validate(spec)
        except ValueError as exc:
            from synthesis.review.spec_errors import error_lines
            messages = [m for _, m in error_lines(exc)]
            if any(f"key '{where}': unknown setting; did you mean '{key[-1]}'?" in m for m in messages):
                continue
        unheard.append(where)
    assert not unheard, f"misspelt keys not refused with a did-you-mean: {unheard}"


@pytest.mark.parametrize("review_id", sorted(set(list_review_ids(ROOT))))
def test_shipped_review_yaml_round_trips(review_id):
    raw = yaml.safe_load((ROOT / "reviews" / review_id / "review.yaml").read_text())
    spec = load_spec(review_id, ROOT)
    dumped = spec.model_dump(mode="json")
    assert ReviewSpec.model_validate(spec.model_dump()) == spec  # validating them again changes nothing
    assert ReviewSpec.model_validate(dumped).model_dump(mode="json") == dumped  # nor going through JSON
    for path, value in leaf_paths(raw):  # every value written in the file is kept as written
        here = spec.model_dump()
        for part in path:
            here = here[part]
        if path[-1] == "search_date" and value is not None:
            value = str(value)[:10]
        assert here == value, (path, here, value)


# ---------------------------------------------------------------- one home for each definition
def test_schema_choices_come_from_their_homes():
    import typing

    from synthesis.bayes import TAU_PRIOR_PRESETS, StrategyPriors, make_tau_prior
    from synthesis.meta.core import METHODS
    from synthesis.meta.effects import MEASURES
    from synthesis.meta.two_by_two import TWO_BY_TWO_METHODS
    from synthesis.meta.pooled import TESTS
    from synthesis.review.schema import EFFECT_ARGUMENTS, TAU_PRIORS, Analysis, Bayes, Effect, StrategyPriorsSpec
    from synthesis.review.taxonomy import TAXONOMIES

    def choices(model, name):
        return typing.get_args(model.model_fields[name].annotation)

    assert choices(Effect, "measure") == tuple(MEASURES)
    assert set(EFFECT_ARGUMENTS) == {a for groups in MEASURES.values() for g in groups for a in g}
    assert choices(Analysis, "method") == METHODS + tuple(TWO_BY_TWO_METHODS)
    assert choices(Analysis, "test") == TESTS
    assert set(TAU_PRIOR_PRESETS) <= set(TAU_PRIORS) == set(choices(Bayes, "tau_prior"))
    assert {"half_normal", "half_cauchy", "lognormal", "log_t"} <= set(TAU_PRIORS)
    for name in TAU_PRIORS:
        make_tau_prior(name)  # every name the schema allows, the model accepts
    from synthesis.review.schema import StrategySpec
    assert choices(StrategySpec, "taxonomy") == TAXONOMIES
    assert StrategyPriorsSpec().model_dump() == vars(StrategyPriors())


@pytest.mark.parametrize("analysis, expected", [
    ({"method": "fe"}, ("EE", "z", 0.95)),
    ({"method": "dl", "test": "HKSJ"}, ("DL", "knha", 0.95)),
    ({"level": 95}, ("REML", "z", 0.95)),
    ({"level": 0.9}, ("REML", "z", 0.9)),
    ({"level": 80}, ("REML", "z", 0.8)),
])
def test_analysis_settings_are_read_as_the_engine_reads_them(tmp_path, analysis, expected):
    write_review(tmp_path, analysis=analysis)
    spec = load_spec("demo", tmp_path)
    assert (spec.analysis.method, spec.analysis.test, spec.analysis.level) == expected


@pytest.mark.parametrize("analysis, expected", [
    ({"level": 1.5}, "key 'analysis.level': 1.5 would be read as a percentage (1.5%); write the level as 0.95 or 95"),
    ({"level": 150}, "key 'analysis.level': 150 is not valid"),
    ({"level": 0}, "key 'analysis.level': 0 is not valid"),
    ({"level": "high"}, "key 'analysis.level': 'high' is not valid"),
    ({"test": "kn"}, "key 'analysis.test': 'kn' is not allowed; choose one of z, knha; did you mean 'knha'?"),
    ({"method": "rmel"}, "key 'analysis.method': 'rmel' is not allowed; choose one of EE, DL, HE, HS, SJ, ML, REML, "
                         "EB, PM, MH, Peto; did you mean 'REML'?"),
])
def test_bad_analysis_settings(tmp_path, analysis, expected):
    write_review(tmp_path, analysis=analysis)
    assert expected in problems(tmp_path)


def test_tau_prior_presets_are_allowed_and_misspellings_refused(tmp_path):
    write_review(tmp_path, bayes={"tau_prior": "rhodes2015_general"})
    assert load_spec("demo", tmp_path).bayes.tau_prior == "rhodes2015_general"
    write_review(tmp_path, bayes={"tau_prior": "turner2015_proces"})
    assert "key 'bayes.tau_prior': 'turner2015_proces' is not allowed" in problems(tmp_path)
    assert "did you mean 'turner2015_process'?" in problems(tmp_path)


@pytest.mark.parametrize("csv, expected", [
    ("study,r,n\nA,0.3,50\nB,0.2,3\n", "row 2 (line 3 of the file), column 'n': 3 is not a valid number of "
     "participants (must be at least 4: the variance of Fisher's z is 1/(n - 3))"),
    ("study,r,n\nA,0.3,50\nB,1,40\n", "row 2 (line 3 of the file), column 'r': 1 is not a valid correlation "
     "(must lie strictly between -1 and 1)"),
    ("study,r,n\nA,0.3,50\nB,inf,40\n", "row 2 (line 3 of the file), column 'r': inf is not a finite number; fix the value or leave "
     "the cell empty"),
])
def test_correlations_the_engine_cannot_use_are_refused_with_file_row_and_column(tmp_path, csv, expected):
    write_review(tmp_path, csv=csv, effect={"measure": "ZCOR", "columns": {"ri": "r", "ni": "n"}})
    assert problems(tmp_path) == f"reviews/demo/studies.csv, {expected}"
