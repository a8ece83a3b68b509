"""The demo company's description (``company.json``) and the arrays the simulation indexes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DESCRIPTION_PATH", "Company", "load_company"]

#: A symlink to ``data/demo_company.json`` in the repository; a real file in an installed wheel.
DESCRIPTION_PATH = Path(__file__).with_name("company.json")

KIND_CODES = {"unsorted": 0, "open": 1, "won": 2, "lost": 3}


@dataclass(frozen=True)
class Company:
    """The parsed description plus dense arrays for vectorised simulation.

    Stages of pipeline ``p`` are addressed by position ``pos`` in sort order: 0 is the unsorted
    stage, ``1..n_open[p]`` the open stages, ``won_pos[p]`` won and ``lost_pos[p]`` lost.
    """

    raw: dict[str, Any]
    pipeline_ids: np.ndarray  # (P,)
    pipeline_share: np.ndarray  # (P,) share of deals created in each pipeline
    price_median: np.ndarray  # (P,)
    price_sigma: np.ndarray  # (P,)
    n_open: np.ndarray  # (P,) number of open stages
    stage_ids: np.ndarray  # (P, max positions) padded with -1
    user_ids: np.ndarray  # (U,)
    user_group: np.ndarray  # (U,)
    user_skill: np.ndarray  # (U,)
    user_workload: np.ndarray  # (U,) normalised
    user_active: np.ndarray  # (U,) bool
    user_left_days: np.ndarray  # (U,) days before as_of a former user left (0 = active)
    source_ids: np.ndarray
    source_p_unsorted: np.ndarray
    source_p_other: np.ndarray
    source_robot: np.ndarray  # bool: leads from this source are created by a robot
    loss_ids: np.ndarray
    loss_p: np.ndarray
    spam_loss_id: int
    task_types: list[str] = field(default_factory=list)
    task_type_p: np.ndarray = field(default_factory=lambda: np.zeros(0))
    task_texts: list[list[str]] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    channel_p: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def won_pos(self) -> np.ndarray:
        return self.n_open + 1

    @property
    def lost_pos(self) -> np.ndarray:
        return self.n_open + 2

    @property
    def timezone(self) -> str:
        return str(self.raw["account"]["timezone"])

    def kind_of(self, pos: np.ndarray, pipe: np.ndarray) -> np.ndarray:
        """Kind codes (see ``KIND_CODES``) of stage positions ``pos`` in pipelines ``pipe``."""
        kind = np.where(pos == 0, 0, 1)
        kind = np.where(pos == self.won_pos[pipe], 2, kind)
        return np.where(pos == self.lost_pos[pipe], 3, kind)

    def stage_rows(self) -> list[dict[str, Any]]:
        """Rows of the ``stages`` table."""
        return [
            {
                "pipeline_id": p["pipeline_id"],
                "stage_id": s["stage_id"],
                "name": s["name"],
                "sort": s["sort"],
                "kind": s["kind"],
                "color": s["color"],
            }
            for p in self.raw["pipelines"]
            for s in p["stages"]
        ]


def _validate(raw: dict[str, Any]) -> None:
    """Fail early on a description the simulation cannot use."""
    for p in raw["pipelines"]:
        kinds = [s["kind"] for s in sorted(p["stages"], key=lambda s: s["sort"])]
        n_open = kinds.count("open")
        if kinds != ["unsorted"] + ["open"] * n_open + ["won", "lost"] or n_open < 2:
            raise ValueError(f"pipeline {p['name']!r}: stages must be unsorted, open…, won, lost")
        ids = {s["stage_id"]: s["kind"] for s in p["stages"]}
        if ids.get(142) != "won" or ids.get(143) != "lost":
            raise ValueError(f"pipeline {p['name']!r}: won must be 142 and lost 143")


def _normalised(values: list[float]) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    return arr / arr.sum()


@cache
def load_company(path: Path = DESCRIPTION_PATH) -> Company:
    """Read and index the company description at ``path``."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    _validate(raw)
    pipes = raw["pipelines"]
    width = max(len(p["stages"]) for p in pipes)
    stage_ids = np.full((len(pipes), width), -1, dtype=np.int64)
    for i, p in enumerate(pipes):
        for j, s in enumerate(sorted(p["stages"], key=lambda s: s["sort"])):
            stage_ids[i, j] = s["stage_id"]
    users = raw["users"]
    sources = raw["lead_sources"]
    losses = raw["loss_reasons"]
    spam = [r["id"] for r in losses if r["weight"] == 0]
    return Company(
        raw=raw,
        pipeline_ids=np.array([p["pipeline_id"] for p in pipes], dtype=np.int64),
        pipeline_share=_normalised([p["share"] for p in pipes]),
        price_median=np.array([p["price_median"] for p in pipes], dtype=np.float64),
        price_sigma=np.array([p["price_sigma"] for p in pipes], dtype=np.float64),
        n_open=np.array([sum(s["kind"] == "open" for s in p["stages"]) for p in pipes]),
        stage_ids=stage_ids,
        user_ids=np.array([u["user_id"] for u in users], dtype=np.int64),
        user_group=np.array([u["group_id"] for u in users], dtype=np.int64),
        user_skill=np.array([u["skill"] for u in users], dtype=np.float64),
        user_workload=_normalised([u["workload"] for u in users]),
        user_active=np.array([u.get("is_active", True) for u in users], dtype=bool),
        user_left_days=np.array([u.get("left_days_before_as_of", 0) for u in users]),
        source_ids=np.array([s["id"] for s in sources], dtype=np.int64),
        source_p_unsorted=_normalised([s["unsorted"] for s in sources]),
        source_p_other=_normalised([s["other"] for s in sources]),
        source_robot=np.array([s.get("robot", False) for s in sources], dtype=bool),
        loss_ids=np.array([r["id"] for r in losses], dtype=np.int64),
        loss_p=_normalised([r["weight"] for r in losses]),
        spam_loss_id=int(spam[0]) if spam else int(losses[0]["id"]),
        task_types=[t["name"] for t in raw["task_types"]],
        task_type_p=_normalised([t["weight"] for t in raw["task_types"]]),
        task_texts=[t["texts"] for t in raw["task_types"]],
        channels=list(raw["channels"]),
        channel_p=_normalised(list(raw["channels"].values())),
    )
