"""Record real web-page transitions: a random policy on MiniWoB++ pages in BrowserGym (system chromium).

    rlvr data record-web --tasks click-tab enter-text --episodes 4 --out web.jsonl [--workers 2]

For each task type and episode: reset the page (BrowserGym seed = the episode's seed), then up to
`steps` times pick an action uniformly among the page's visible actionable elements (buttons, links,
inputs, checkboxes, tabs, options, anything with a click handler): type a word (from the page's
objective, else from a fixed list) into a text field, choose an option of a native <select>, else
click; record the tree before, the action and the change (worlds/web/tree.py). The policy's
randomness comes from (seed, task, episode) only, so a recording is reproducible (ids are renumbered
per episode; MiniWoB++'s own timing can still differ, e.g. a blinking cursor). An episode ends when
the task says it is done. An action the browser refuses (Playwright error) is not recorded, counted.
With workers > 1 that many browsers share the work (each task type's episodes in chunks of 4) as Ray
tasks, on the job's cluster or a local one bound to 127.0.0.1.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from worlds.web.tree import IdMap, diff_items, render_target, render_tree, tree_lines

ACTIONABLE_ROLES = frozenset({
    "button", "link", "checkbox", "radio", "textbox", "searchbox", "spinbutton", "combobox", "option", "tab",
    "menuitem", "menuitemcheckbox", "menuitemradio", "switch", "treeitem", "slider", "listitem", "gridcell", "cell",
})
TYPE_ROLES = frozenset({"textbox", "searchbox", "spinbutton"})
WORDS = ("hello", "apple", "blue", "submit", "42", "Paris", "yes", "no", "test", "john")
URL_PREFIX = "file:///miniwob/"  # recorded URLs: the local path of the MiniWoB++ pages replaced by this


@dataclass(frozen=True)
class Candidate:
    bid: str  # BrowserGym's element id (its actions address elements by it)
    id: int  # the printed id
    role: str
    options: tuple[str, ...] = ()  # a native <select>'s options


def candidates(axtree: dict, properties: dict, lines: list[tuple[int, int, str]], ids: IdMap) -> list[Candidate]:
    """The visible elements a policy can act on, in document order, each named by its printed id (an
    element that is not printed, e.g. a bare <span> with a click handler, by its first printed descendant)."""
    printed = {i for i, _, _ in lines}
    by_node = {n["nodeId"]: n for n in axtree["nodes"]}

    def printed_id(node: dict) -> int | None:
        own = ids.ids.get(node.get("backendDOMNodeId"))
        if own in printed:
            return own
        for child in node.get("childIds", []):
            found = printed_id(by_node[child]) if child in by_node else None
            if found is not None:
                return found
        return None

    out = []
    for node in axtree["nodes"]:
        bid = node.get("browsergym_id")
        role = (node.get("role") or {}).get("value")
        if bid is None or node.get("ignored"):
            continue
        extra = properties.get(bid) or {}
        if not (extra.get("visibility") or 0) > 0 or not (role in ACTIONABLE_ROLES or extra.get("clickable")):
            continue
        shown = printed_id(node)
        if shown is None:
            continue
        options = ()
        if role == "combobox":  # a native <select>: MenuListPopup > option children
            popups = [by_node[c] for c in node.get("childIds", []) if c in by_node and (by_node[c].get("role") or {}).get("value") == "MenuListPopup"]
            options = tuple((by_node[o].get("name") or {}).get("value", "") for p in popups for o in p.get("childIds", []) if o in by_node)
        out.append(Candidate(bid, shown, role, tuple(o for o in options if o)))
    return out


def choose_action(rng: random.Random, options: list[Candidate], goal: str) -> tuple[str, str]:
    """(BrowserGym action, printed action) for one uniformly chosen element."""
    element = rng.choice(options)
    if element.role in TYPE_ROLES:
        words = re.findall(r'"([^"]+)"', goal) or [w for w in re.findall(r"[A-Za-z0-9]+", goal) if len(w) > 2]
        text = rng.choice(words) if words and rng.random() < 0.7 else rng.choice(WORDS)
        return f"fill({element.bid!r}, {text!r})", f"type [{element.id}] [{text}] [0]"
    if element.options:
        option = rng.choice(element.options)
        return f"select_option({element.bid!r}, {option!r})", f"select [{element.id}] [{option}]"
    return f"click({element.bid!r})", f"click [{element.id}]"


def _title(obs: dict) -> str:
    import numpy as np

    titles = obs.get("open_pages_titles") or [""]
    return titles[min(int(np.asarray(obs.get("active_page_index", 0)).item()), len(titles) - 1)]


def record_episode(env, task: str, episode: int, seed: int, steps: int) -> tuple[list[dict], int]:
    """(rows, refused actions) of one episode on an open BrowserGym env."""
    import os

    rng = random.Random(f"{seed}/{task}/{episode}")
    obs, _ = env.reset(seed=seed * 100_003 + episode)
    ids = IdMap()
    before = tree_lines(obs["axtree_object"], ids)
    goal, rows, refused, previous = obs.get("goal") or "", [], 0, "None"
    url = obs["url"].replace(os.environ.get("MINIWOB_URL", "\0"), URL_PREFIX)
    for step in range(steps):
        options = candidates(obs["axtree_object"], obs["extra_element_properties"], before, ids)
        if not options:
            break
        action, printed = choose_action(rng, options, goal)
        observation = render_tree(before, _title(obs))
        obs, _, terminated, truncated, _ = env.step(action)
        if obs.get("last_action_error"):
            refused += 1
            before = tree_lines(obs["axtree_object"], ids)
            continue
        after = tree_lines(obs["axtree_object"], ids)
        rows.append({
            "id": f"{task}/{episode}/{step}", "task": task, "episode": f"{task}/{episode}", "step": step,
            "url": url, "objective": goal, "previous_action": previous, "observation": observation, "action": printed,
            "target": render_target(diff_items(before, after)), "next_observation": render_tree(after, _title(obs)),
        })
        before, previous = after, printed
        if terminated or truncated:
            break
    return rows, refused


def record_unit(task: str, episodes: list[int], seed: int, steps: int) -> dict:
    """Record some episodes of one task type in one browser: {rows, refused, failed, seconds}."""
    import gymnasium as gym

    from worlds.web import browser

    browser.setup()
    start = time.perf_counter()
    env = gym.make(f"browsergym/miniwob.{task}")
    rows, refused, failed = [], 0, []
    try:
        for episode in episodes:
            try:
                got, n = record_episode(env.unwrapped, task, episode, seed, steps)
            except Exception as err:  # a page that crashes the browser: reported, the others go on
                failed.append(f"{task}/{episode}: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
                continue
            rows += got
            refused += n
    finally:
        env.close()
    return {"rows": rows, "refused": refused, "failed": failed, "seconds": time.perf_counter() - start}


def registered_tasks() -> list[str]:
    """The MiniWoB++ task types BrowserGym registers (chromium set up first)."""
    import gymnasium as gym

    from worlds.web import browser

    browser.setup()
    return sorted(name.split(".", 1)[1] for name in gym.envs.registry if name.startswith("browsergym/miniwob."))


def units(tasks: Iterable[str], episodes: int, per_unit: int = 4) -> list[tuple[str, list[int]]]:
    """Work units: each task type's episodes in chunks of `per_unit` (one browser session each)."""
    return [(t, list(range(e, min(e + per_unit, episodes)))) for t in tasks for e in range(0, episodes, per_unit)]


def record(tasks: list[str], episodes: int, steps: int = 3, seed: int = 0, workers: int = 1, progress: bool = True) -> dict:
    """Record every task type's episodes; rows in (task, episode, step) order whatever the workers.
    Returns {rows, refused, failed, seconds, transitions_per_s}."""
    from tqdm import tqdm

    from worlds.web import browser

    browser.setup()  # fail fast, in this process, when the browser or packages are missing
    todo = units(tasks, episodes)
    start = time.perf_counter()
    bar = tqdm(total=sum(len(e) for _, e in todo), unit="episode", desc="recording web transitions", disable=not progress)
    results = []
    if workers <= 1:
        for task, eps in todo:
            results.append(record_unit(task, eps, seed, steps))
            bar.update(len(eps))
    else:
        import ray

        from core.cluster import ray_session

        with ray_session(num_cpus=workers):
            remote = ray.remote(num_cpus=1)(record_unit)
            queue = list(todo)
            pending: dict = {}
            while queue or pending:
                while queue and len(pending) < workers:
                    task, eps = queue.pop(0)
                    pending[remote.options(name=f"web_recorder:{task}").remote(task, eps, seed, steps)] = len(eps)
                (done,), _ = ray.wait(list(pending), num_returns=1)
                bar.update(pending.pop(done))
                results.append(ray.get(done))
    bar.close()
    order = {t: i for i, t in enumerate(tasks)}
    rows = sorted((r for res in results for r in res["rows"]), key=lambda r: (order[r["task"]], int(r["episode"].rsplit("/", 1)[1]), r["step"]))
    seconds = time.perf_counter() - start
    return {
        "rows": rows, "refused": sum(r["refused"] for r in results), "failed": [f for r in results for f in r["failed"]],
        "seconds": seconds, "transitions_per_s": len(rows) / seconds if seconds else 0.0,
    }


def write_jsonl(rows: list[dict], path: str | Path) -> None:
    """Write rows as JSONL atomically (a temporary file renamed), so a crash leaves no torn recording."""
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(path)


def summary_line(result: dict) -> str:
    from worlds.web.tree import target_changes

    rows = result["rows"]
    changed = sum(target_changes(r["target"]) for r in rows)
    episodes, tasks = len({r["episode"] for r in rows}), len({r["task"] for r in rows})
    return (
        f"recorded {len(rows)} transitions ({changed / max(len(rows), 1):.0%} change the page) from {episodes} episodes of {tasks} task types "
        f"in {result['seconds']:.0f} s: {result['transitions_per_s']:.2f} transitions/s; {result['refused']} refused actions, {len(result['failed'])} failed episodes"
    )
