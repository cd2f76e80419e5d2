"""The per-kind table (ciqueue.ci.kinds.KIND_SPECS) against Tencent Cloud's documentation, and the
documents that must say what the table says (docs/deploy.md's CAM table and policy, README's CAM row).

Sources for the facts asserted here are in /work/shared/reference/ci-api.md section 1 (CAM actions)
and section 2.4 (Category values).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ciqueue.ci.kinds import KIND_SPECS, QueueKind

ROOT = Path(__file__).resolve().parents[2]
ACTION = re.compile(r"ci:[A-Z][A-Za-z]+")  # an action; resources read ci:<region>

# CAM actions as CAM's action list names them (ASRQ-D/ASRQ-U, AIQ-D/AIQ-U: 1045/73366, 436/98454,
# 1045/72923, 1045/72924); the old API names DescribeSpeechQueues/UpdateSpeechQueue and the
# spelling AIProcess are not CAM actions.
DOCUMENTED_ACTIONS = {
    QueueKind.PIC: ("ci:DescribePicProcessQueues", "ci:UpdatePicProcessQueue"),
    QueueKind.MEDIA: ("ci:DescribeMediaQueues", "ci:UpdateMediaQueue"),
    QueueKind.DOC: ("ci:DescribeDocProcessQueues", "ci:UpdateDocProcessQueue"),
    QueueKind.ASR: ("ci:DescribeAsrQueues", "ci:UpdateAsrQueue"),
    QueueKind.AI: ("ci:DescribeAiProcessQueues", "ci:UpdateAiProcessQueue"),
    QueueKind.FILE: ("ci:DescribeFileProcessQueues", "ci:UpdateFileProcessQueue"),
}


@pytest.mark.parametrize("kind", list(QueueKind), ids=lambda k: k.value)
def test_cam_actions_are_the_documented_ones(kind: QueueKind) -> None:
    spec = KIND_SPECS[kind]
    assert (spec.describe_action, spec.update_action) == DOCUMENTED_ACTIONS[kind]


def _table_actions() -> set[str]:
    return {a for spec in KIND_SPECS.values() for a in (spec.describe_action, spec.update_action)}


def test_deploy_doc_cam_table_is_the_kinds_table() -> None:
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] in {k.value for k in QueueKind} and cells[1].startswith("ci:"):
            rows[QueueKind(cells[0])] = (cells[1], cells[2])
    assert rows == {k: (s.describe_action, s.update_action) for k, s in KIND_SPECS.items()}


def test_deploy_doc_policy_grants_exactly_the_tables_ci_actions() -> None:
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.S)
    policies = [json.loads(b) for b in blocks if '"statement"' in b]
    assert len(policies) == 1, "docs/deploy.md holds one policy document"
    granted = [
        action.removeprefix("name/")
        for statement in policies[0]["statement"]
        for action in statement["action"]
        if action.startswith("name/ci:")
    ]
    assert sorted(granted) == sorted(_table_actions())


def test_readme_cam_row_lists_exactly_the_tables_ci_actions() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    (row,) = [line for line in text.splitlines() if line.startswith("| CI queues")]
    assert sorted(ACTION.findall(row)) == sorted(_table_actions())


def test_no_document_names_a_queue_action_the_table_lacks() -> None:
    # Queue actions only (…Queue, …Queues): other CI actions (e.g. the bucket listings') are no
    # business of this table.
    known = _table_actions()
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        named = {
            a for a in ACTION.findall(path.read_text(encoding="utf-8")) if a.endswith(("Queue", "Queues"))
        }
        assert named <= known, f"{path.name} names {sorted(named - known)}"


# Category values as the docs' samples show them (ci-api.md 2.4: 1045/72923, 1250/61066, 436/49411,
# 1045/47935, 1045/73366, 1045/72964); the first is the category of a kind's default queue.
DOCUMENTED_CATEGORIES = {
    QueueKind.PIC: ("PicProcessing",),
    QueueKind.MEDIA: ("Transcoding", "SpeedTranscoding"),
    QueueKind.DOC: ("DocProcess",),
    QueueKind.ASR: ("Speeching",),
    QueueKind.AI: ("AIProcess",),
    QueueKind.FILE: ("FileProcess",),
}


@pytest.mark.parametrize("kind", list(QueueKind), ids=lambda k: k.value)
def test_categories_are_the_documented_ones(kind: QueueKind) -> None:
    spec = KIND_SPECS[kind]
    assert spec.categories == DOCUMENTED_CATEGORIES[kind]
    assert spec.category == DOCUMENTED_CATEGORIES[kind][0]
