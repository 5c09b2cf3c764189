"""Tests of synthesis.review.taxonomy: the shipped ERIC / EPOC / KMb vocabularies and the crosswalk."""
from __future__ import annotations

import pytest

from synthesis.errors import ReviewError
from synthesis.review.taxonomy import TAXONOMIES, crosswalk, crosswalk_table, load_taxonomy, normalise_label

#: Waltz et al. (2015), Implementation Science 10:109, table 3: clusters and their sizes
WALTZ_CLUSTERS = {
    "Use evaluative and iterative strategies": 10,
    "Provide interactive assistance": 4,
    "Adapt and tailor to context": 4,
    "Develop stakeholder interrelationships": 17,
    "Train and educate stakeholders": 11,
    "Support clinicians": 5,
    "Engage consumers": 5,
    "Utilize financial strategies": 9,
    "Change infrastructure": 8,
}


def test_eric_has_the_nine_waltz_clusters_and_73_strategies():
    eric = load_taxonomy("eric")
    sizes = eric.to_frame().groupby("cluster_label").size().to_dict()
    assert sizes == WALTZ_CLUSTERS
    assert len(eric.strategies) == 73
    assert "Powell" in eric.citation


@pytest.mark.parametrize("label, strategy, cluster", [
    ("Audit and provide feedback", "audit_and_provide_feedback", "use_evaluative_and_iterative_strategies"),
    ("audit & feedback", "audit_and_provide_feedback", "use_evaluative_and_iterative_strategies"),
    ("Conduct educational outreach visits", "conduct_educational_outreach_visits", "train_and_educate_stakeholders"),
    ("academic detailing", "conduct_educational_outreach_visits", "train_and_educate_stakeholders"),
    ("Conduct educational meetings", "conduct_educational_meetings", "train_and_educate_stakeholders"),
    ("Remind clinicians", "remind_clinicians", "support_clinicians"),
    ("reminders", "remind_clinicians", "support_clinicians"),
    ("Identify and prepare champions", "identify_and_prepare_champions", "develop_stakeholder_interrelationships"),
    ("local opinion leaders", "inform_local_opinion_leaders", "develop_stakeholder_interrelationships"),
    ("Facilitation", "facilitation", "provide_interactive_assistance"),
    ("practice facilitation", "facilitation", "provide_interactive_assistance"),
    ("TAILOR_STRATEGIES", "tailor_strategies", "adapt_and_tailor_to_context"),
    ("Recruit, designate, and train for leadership", "recruit_designate_and_train_for_leadership",
     "develop_stakeholder_interrelationships"),
])
def test_eric_strategies_resolve_by_id_label_or_common_name(label, strategy, cluster):
    found = load_taxonomy("eric").resolve(label)
    assert (found.id, found.cluster) == (strategy, cluster)


def test_epoc_and_kmb_content():
    epoc = load_taxonomy("epoc")
    assert [c.label for c in epoc.clusters.values()] == [
        "Delivery arrangements", "Financial arrangements", "Governance arrangements", "Implementation strategies"]
    for name in ("audit and feedback", "educational meetings", "educational outreach", "local opinion leaders",
                 "reminders", "tailored interventions", "continuous quality improvement", "communities of practice"):
        assert epoc.resolve(name).cluster == "implementation_strategies"
    kmb = load_taxonomy("kmb")
    assert [c.label for c in kmb.clusters.values()] == [
        "Awareness", "Agreement", "Communication and access", "Interaction", "Skills", "Structures and processes"]
    for name, mechanism in (("knowledge brokering", "interaction"), ("co-production", "agreement"),
                            ("action learning sets", "skills"), ("evidence-to-practice groups", "interaction"),
                            ("accessible-format dissemination", "communication_and_access")):
        assert kmb.resolve(name).cluster == mechanism


def test_ids_are_unique_and_names_unambiguous():
    for name in TAXONOMIES:
        taxonomy = load_taxonomy(name)
        seen = {}
        for s in taxonomy.strategies.values():
            for alias in (s.id, s.label, *s.aliases):
                key = normalise_label(alias)
                assert seen.setdefault(key, s.id) == s.id, f"{name}: {alias!r} names two strategies"


def test_crosswalk():
    assert crosswalk("Audit and provide feedback")["epoc"] == ["audit_and_feedback"]
    assert crosswalk("reminders")["epoc"] == ["reminders"]
    assert crosswalk("educational outreach")["epoc"] == ["educational_outreach_visits"]
    assert crosswalk("inform local opinion leaders")["epoc"] == ["local_opinion_leaders"]
    assert crosswalk("tailor strategies")["epoc"] == ["tailored_interventions"]
    assert crosswalk("conduct local consensus discussions")["kmb"] == ["agreement"]
    unmapped = crosswalk("develop an implementation glossary")
    assert unmapped["epoc"] == [] and unmapped["kmb"] == [] and unmapped["note"]
    table = crosswalk_table()
    assert table["eric"].is_unique and len(table) >= 30
    assert not table["eric_label"].isna().any()


def test_unknown_strategy_lists_the_known_ones_and_suggests():
    with pytest.raises(ReviewError) as info:
        load_taxonomy("eric").resolve("audit and feedbak", where="reviews/x/studies.csv, row 3")
    message = str(info.value)
    assert message.startswith("reviews/x/studies.csv, row 3: 'audit and feedbak' is not a known ERIC strategy; "
                              "did you mean 'audit_and_provide_feedback'?")
    assert "Known strategies" in message and "remind_clinicians" in message and "use_capitated_payments" in message
    with pytest.raises(ReviewError, match="is not a known EPOC cluster"):
        load_taxonomy("epoc").resolve_cluster("goverment")


def test_extend_with_review_strategies():
    eric = load_taxonomy("eric")
    extended = eric.extend([{"id": "peer_comparison_letters", "label": "Peer comparison letters",
                             "cluster": "Use evaluative and iterative strategies", "aliases": ["nudge letters"]}])
    found = extended.resolve("nudge letters")
    assert (found.id, found.cluster, found.source) == ("peer_comparison_letters",
                                                       "use_evaluative_and_iterative_strategies", "review")
    assert eric.find("nudge letters") is None  # the shipped taxonomy is unchanged
    with pytest.raises(ReviewError, match="already belongs to the ERIC strategy 'remind_clinicians'"):
        eric.extend([{"id": "my_reminders", "label": "Reminders", "cluster": "support clinicians"}])
    with pytest.raises(ReviewError, match="not a known ERIC cluster"):
        eric.extend([{"id": "x", "label": "X", "cluster": "nowhere"}])


def test_unknown_taxonomy():
    with pytest.raises(ReviewError, match="unknown taxonomy 'erik'; did you mean 'eric'?"):
        load_taxonomy("erik")


def test_normalise_label():
    assert normalise_label("  Audit &  Feedback!") == "audit and feedback"
    assert normalise_label("patients/consumers") == "patients consumers"
