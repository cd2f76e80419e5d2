"""The week as a picture: lanes, shaded windows at the right x, overrides, switches, the now line.

The SVG is parsed with the standard library's XML parser after checking it declares no DTD or
entity (so the parse can expand nothing), and the assertions read its elements.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from ciqueue.schedule.config import Config
from ciqueue.schedule.engine import ObservedQueue, Override
from ciqueue.schedule.load import parse_config
from ciqueue.schedule.plan import lanes
from ciqueue.schedule.timeline import PLOT_LEFT, PLOT_RIGHT, render_timeline, week_svg
from conftest import CONFIG_NOW

CST = ZoneInfo("Asia/Shanghai")
NS = {"s": "http://www.w3.org/2000/svg"}
BUCKET, REGION = "media-1250000000", "ap-guangzhou"
Q1, Q2 = "p" + "1" * 32, "p" + "2" * 32
MONDAY = datetime(2026, 3, 2, 0, 0, tzinfo=CST)
PER_HOUR = (PLOT_RIGHT - PLOT_LEFT) / (7 * 24)

CONFIG: Config = parse_config(
    {
        "version": 1,
        "timezone": "Asia/Shanghai",
        "targets": {
            "night": {"bucket": BUCKET, "region": REGION, "queue_ids": [Q1, Q2]},
            "idle": {"bucket": BUCKET, "region": REGION, "kind": "doc", "name_pattern": "doc-*"},
        },
        "windows": [{"name": "nightly", "targets": ["night"], "start": "0 0 2 * * * *", "duration": "2h"}],
        "rotations": [
            {
                "name": "on-call",
                "targets": ["night"],
                "callbacks": [
                    {"type": "Url", "url": "https://a.example.com/cb"},
                    {"type": "Url", "url": "https://b.example.com/cb?token=s3cret"},
                ],
                "at": [{"time": "08:00", "callback": 0}, {"time": "20:00", "callback": 1}],
            }
        ],
    },
    now=CONFIG_NOW,
)


def parse(svg: str) -> ET.Element:
    assert "<!DOCTYPE" not in svg and "<!ENTITY" not in svg  # nothing for the parser to expand
    return ET.fromstring(svg)


def x_at(hours: float) -> str:
    return f"{PLOT_LEFT + hours * PER_HOUR:.1f}"


def lane_groups(root: ET.Element) -> list[ET.Element]:
    return root.findall("s:g[@class='lane']", NS)


def test_one_lane_per_group_with_the_windows_shaded_at_their_times() -> None:
    now = MONDAY + timedelta(hours=12)
    root = parse(week_svg(CONFIG, now, start=MONDAY))
    assert [g.get("data-lane") for g in lane_groups(root)] == ["night", "idle"]
    night, idle = lane_groups(root)
    spans = night.findall("s:rect[@class='paused']", NS)
    assert len(spans) == 7  # 02:00-04:00 every day of the week
    assert (spans[0].get("x"), spans[0].get("width")) == (x_at(2), f"{2 * PER_HOUR:.1f}")
    assert spans[6].get("x") == x_at(6 * 24 + 2)
    assert spans[0].findtext("s:title", namespaces=NS) == "Paused by the schedule Mon 02:00 to Mon 04:00"
    assert idle.findall("s:rect[@class='paused']", NS) == []
    # The now line at Monday noon, labelled in the config's zone.
    line = root.find("s:line[@class='now']", NS)
    assert line is not None and line.get("x1") == x_at(12) == line.get("x2")
    assert root.findtext("s:text[@class='now-label']", namespaces=NS) == "now 12:00 CST"


def test_the_zone_abbreviation_day_ticks_and_accessible_name() -> None:
    svg = week_svg(CONFIG, MONDAY, start=MONDAY)
    root = parse(svg)
    title = root.findtext("s:title", namespaces=NS) or ""
    assert title == "Mon 2026-03-02 00:00 to Mon 2026-03-09 00:00, CST (Asia/Shanghai)"
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "timeline-title timeline-desc"
    desc = root.findtext("s:desc", namespaces=NS) or ""
    assert "night: paused Mon 02:00 to Mon 04:00; Tue 02:00 to Tue 04:00" in desc
    assert "idle: not paused by a window." in desc
    ticks = root.findall("s:line[@class='day-tick']", NS)
    assert [t.get("x1") for t in ticks] == [x_at(24 * d) for d in range(8)]  # each local midnight
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "Mon 03-02" in texts and "Sun 03-08" in texts
    assert root.get("viewBox") == f"0 0 720 {root.get('height')}"


def test_a_window_open_at_the_start_is_shaded_from_the_left_edge() -> None:
    start = MONDAY + timedelta(hours=3)  # inside Monday's 02:00-04:00
    root = parse(week_svg(CONFIG, start, start=start, days=1))
    first = lane_groups(root)[0].findall("s:rect[@class='paused']", NS)[0]
    assert first.get("x") == f"{PLOT_LEFT:.1f}"
    assert first.get("width") == f"{(PLOT_RIGHT - PLOT_LEFT) / 24:.1f}"  # until 04:00


def test_rotation_switches_are_marked_with_the_callback_index() -> None:
    root = parse(week_svg(CONFIG, MONDAY, start=MONDAY, days=1))
    night = lane_groups(root)[0]
    marks = night.findall("s:line[@class='switch']", NS)
    per_hour = (PLOT_RIGHT - PLOT_LEFT) / 24
    assert [m.get("x1") for m in marks] == [f"{PLOT_LEFT + h * per_hour:.1f}" for h in (8, 20)]
    notes = [n.text for n in night.findall("s:text[@class='note']", NS)]
    assert notes == ["#1", "#0", "#1"]  # in force at the start (since Sunday 20:00), then each switch
    titles = " ".join(m.findtext("s:title", namespaces=NS) or "" for m in marks)
    assert "b.example.com/cb?token=***" in titles and "s3cret" not in titles


def test_overrides_on_their_queue_lane_or_a_lane_of_their_own() -> None:
    now = MONDAY + timedelta(hours=2, minutes=10)
    observed = [
        ObservedQueue(BUCKET, REGION, "pic", Q1, "thumbs", "Paused"),
        ObservedQueue(BUCKET, REGION, "pic", Q2, "marks", "Paused"),
    ]
    pin = Override(
        "o-1",
        BUCKET,
        REGION,
        "pic",
        Q1,
        "Active",
        "launch <now> & fast",
        "token:oncall",
        now,
        now + timedelta(hours=2),
    )
    stray = Override("o-2", BUCKET, REGION, "doc", "d" * 33, "Paused", None, None, now, None)
    svg = week_svg(CONFIG, now, start=MONDAY, observed=observed, overrides=[pin, stray])
    root = parse(svg)
    groups = lane_groups(root)
    key1 = f"{BUCKET}/{REGION}/pic/{Q1}"
    stray_key = f"{BUCKET}/{REGION}/doc/{'d' * 33}"
    assert [g.get("data-lane") for g in groups] == [key1, f"{BUCKET}/{REGION}/pic/{Q2}", stray_key]
    bold = groups[0].find("s:text", NS)
    assert bold is not None and bold.text == "thumbs (night)"
    rect = groups[0].find("s:rect[@class='override']", NS)
    assert rect is not None and rect.get("data-state") == "Active" and rect.get("x") == x_at(2 + 10 / 60)
    assert rect.get("width") == f"{2 * PER_HOUR:.1f}"
    assert rect.findtext("s:title", namespaces=NS) == (
        "override o-1 pins Active by token:oncall until Mon 04:10: launch <now> & fast"
    )
    assert "launch &lt;now&gt; &amp; fast" in svg  # escaped in the bytes, read back as text
    # Its label wins the room under the bar over the callback-at-start label it would overlap.
    assert [n.text for n in groups[0].findall("s:text[@class='note']", NS)][:1] == [
        "pinned Active until Mon 04:10"
    ]
    # The override with no expiry runs to the right edge on its own lane.
    own = groups[2].find("s:rect[@class='override']", NS)
    assert own is not None and own.get("data-state") == "Paused"
    assert float(own.get("x") or 0) + float(own.get("width") or 0) == pytest.approx(PLOT_RIGHT, abs=0.1)
    assert [n.text for n in groups[2].findall("s:text[@class='note']", NS)] == [
        "pinned Paused until cancelled"
    ]


def test_the_same_input_draws_the_same_bytes_and_nothing_external() -> None:
    now = MONDAY + timedelta(days=1, hours=5)
    first = week_svg(CONFIG, now, start=MONDAY)
    assert first == week_svg(CONFIG, now, start=MONDAY)
    assert "<script" not in first and "href" not in first and "url(" not in first and "@import" not in first
    assert "style=" not in first  # presentation attributes only: a strict style-src CSP allows it


def test_no_now_line_outside_the_horizon_and_an_empty_config_says_what_to_do() -> None:
    empty = parse_config({"version": 1, "timezone": "Asia/Shanghai"}, now=CONFIG_NOW)
    root = parse(week_svg(empty, MONDAY - timedelta(days=1), start=MONDAY))
    assert root.find("s:line[@class='now']", NS) is None
    assert lane_groups(root) == []
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "No target groups or queues to show" in texts


def test_a_dst_change_in_the_horizon_names_both_abbreviations() -> None:
    berlin = parse_config({"version": 1, "timezone": "Europe/Berlin"}, now=CONFIG_NOW)
    start = datetime(2026, 3, 27, tzinfo=ZoneInfo("Europe/Berlin"))
    root = parse(week_svg(berlin, start, start=start))
    assert (root.findtext("s:title", namespaces=NS) or "").endswith("CET/CEST (Europe/Berlin)")


def test_text_colours_meet_the_contrast_minimum() -> None:
    svg = week_svg(CONFIG, MONDAY + timedelta(hours=3), start=MONDAY, days=1)
    root = parse(svg)

    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    def ratio(a: str, b: str) -> float:
        high, low = sorted((luminance(a), luminance(b)), reverse=True)
        return (high + 0.05) / (low + 0.05)

    fills = {t.get("fill") or root.get("fill") or "" for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert fills and all(re.fullmatch(r"#[0-9a-f]{6}", f) for f in fills)
    for fill in fills - {"#ffffff"}:
        assert ratio(fill, "#ffffff") >= 4.5, fill
    assert ratio("#ffffff", "#b45309") >= 4.5  # the "paused" label inside the amber span


def test_lanes_carry_the_state_at_the_start_and_render_refuses_naive_times() -> None:
    start = MONDAY + timedelta(hours=3)
    night = lanes(CONFIG, start, 1)[0]
    assert (night.paused_at_start, night.callback_at_start) == (True, 1)
    with pytest.raises(ValueError, match="aware"):
        render_timeline([night], start=start.replace(tzinfo=None), end=start, now=start, tz="UTC")
