"""Caveats and ethical considerations shared by every report that shows model results.

The audit report and the comparison report build one :class:`Limits` each from their
artifact and render the same two sections: caveats (inferred labels, the attribute
classifier's domain gap, groups with insufficient evidence, empty and suppressed
groups, the artifact's notes, face images) and ethical considerations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup

from reports import _format as fmt

ETHICS = Markup(
    "<p>As the Speech2Face authors state, the model does not recover the true face of a "
    "speaker: it produces an average-looking face carrying dominant visual features that "
    "correlate with the voice (age, gender, ethnicity). A faithful reconstruction of an "
    "individual is not possible, and a reconstructed face must never be presented as a "
    "person's face.</p><p>The training data of such models (AVSpeech / VoxCeleb: YouTube "
    "videos) does not represent the world population; groups that are rare there are learnt "
    "worse, which is exactly what this audit measures. The demographic categories used for "
    "slicing are coarse, partly inferred, and not the self-identity of the people in the "
    "data; treat them as a lens on model behaviour, not as facts about anyone.</p>"
    "<p>Groups with fewer speakers than the privacy threshold are suppressed in tables and "
    "figures. So that their counts cannot be recovered by subtraction from a total and the "
    "other groups, the speaker and clip counts of the next-smallest groups of the same "
    "slice (or row or column of an intersection) are <em>withheld</em> too, until at least "
    "two groups and k speakers are hidden together (complementary suppression).</p>"
)

NOT_RECORDED = Markup(
    '<div class="callout inferred"><strong>Label provenance not recorded.</strong> This '
    "artifact does not say where its demographic labels come from. If any were inferred by "
    "a classifier (as the paper's Face++ labels were), every result by that column inherits "
    "the classifier's errors and biases; see the audits' own reports.</div>"
)


@dataclass(frozen=True)
class Limits:
    """What a report must say about the limits of its evidence."""

    provenance: Mapping[str, Mapping[str, int]] | None
    """Clips per label source per column; None when the artifact does not record it."""
    min_speakers: int
    privacy_k: int
    insufficient: Sequence[str] = ()
    empty: Sequence[str] = ()
    suppressed: Sequence[str] = ()
    caveats: Sequence[str] = ()
    notes: Sequence[str] = ()
    domain_gap: str = ""
    """Measured F2F agreement, appended to the domain-gap caveat when known."""
    decoder: bool = True
    """Whether the model reconstructs faces (False: no decoder, so no decoder domain gap)."""
    faces: str = "No face image is embedded."


def inferred_columns(provenance: Mapping[str, Mapping[str, int]] | None) -> dict[str, tuple]:
    """``{column: (inferred clips, labelled clips)}`` of every column with inferred labels."""
    out = {}
    for column, sources in (provenance or {}).items():
        inferred = sources.get("inferred", 0)
        if inferred:
            out[column] = (inferred, sum(sources.values()))
    return out


def inferred_findings(limits: Limits) -> list[str]:
    """One finding per column with inferred labels (or one saying provenance is unknown)."""
    if limits.provenance is None:
        return ["Where the demographic labels come from is not recorded (see Caveats)."]
    return [
        f"{column} labels are inferred for {inferred} of {total} clips: results by "
        f"{column} inherit the labelling classifier's errors."
        for column, (inferred, total) in inferred_columns(limits.provenance).items()
    ]


def caveats_section(limits: Limits) -> Markup:
    parts = [NOT_RECORDED] if limits.provenance is None else []
    for column, (inferred, total) in inferred_columns(limits.provenance).items():
        parts.append(
            Markup(
                '<div class="callout inferred"><strong>Inferred labels: {column}.</strong> '
                "{inferred} of {total} clips carry a {column} label inferred by a classifier "
                "(as the paper's Face++ labels were), not self-reported. Every result by "
                "{column} inherits that classifier's errors and biases.</div>"
            ).format(column=column, inferred=inferred, total=total)
        )
    for caveat in limits.caveats:
        parts.append(Markup('<p class="note">{}</p>').format(caveat))
    if limits.decoder:
        parts.append(
            Markup(
                "<h3>Attribute classifier domain gap</h3><p>Attributes of reconstructed faces are "
                "predicted by a face classifier trained on photographs; decoded faces are smooth, "
                "frontal and average-looking, outside its training domain. The F2F pipeline "
                "measures this gap: an F2F error is the classifier's, not the voice's.{}</p>"
            ).format(limits.domain_gap)
        )
    parts.append(_evidence_listing(limits))
    if limits.notes:
        notes = Markup("").join(Markup("<li>{}</li>").format(n) for n in limits.notes)
        parts.append(Markup("<h3>Notes from the artifact</h3><ul>{}</ul>").format(notes))
    parts.append(Markup('<p class="note">{}</p>').format(limits.faces))
    return Markup("").join(parts)


def _evidence_listing(limits: Limits) -> Markup:
    parts = [Markup("<h3>Groups with insufficient evidence</h3>")]
    parts.append(
        Markup(
            "<p>{} group(s) have fewer than {} speakers; they are shown but not tested: {}</p>"
        ).format(len(limits.insufficient), limits.min_speakers, fmt.listing(limits.insufficient))
        if limits.insufficient
        else Markup("<p>Every group has enough speakers to be tested.</p>")
    )
    if limits.empty:
        parts.append(
            Markup("<p>{} intersection(s) hold no clip: {}</p>").format(
                len(limits.empty), fmt.listing(list(limits.empty))
            )
        )
    if limits.suppressed:
        parts.append(
            Markup(
                "<p>{} group(s) have fewer than {} speakers (the privacy threshold); their "
                "numbers are suppressed in tables and figures: {}</p>"
            ).format(len(limits.suppressed), limits.privacy_k, fmt.listing(limits.suppressed))
        )
    return Markup("").join(parts)
