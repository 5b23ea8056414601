"""A tiny built-in text-game simulator that writes ByteSized32-State-Prediction rows.

Four small games ("lamp-switch", "box-key", "heat-water", "grow-plant") are played by a seeded
random policy; every step becomes one row in exactly the dataset's format:

    {"game", "state_id", "current_state", "action_state", "tick_state",
     "current_score_state", "next_score_state"}

`current_state` is the state before the action, `action_state` right after it, `tick_state` after
the action and one world tick (the prediction target). A state holds `observation`, `look`,
`inventory`, `taskDesc`, `lastAction`, `objects` and `max_UUID` (the next free uuid). The room
("room (ID: 1)", type World) contains the agent ("agent (ID: 0)") and the top-level objects; the
agent contains the inventory. Objects can be added (fruit grows) and removed (fruit is eaten or
rots).

Game names differ from the real dataset's so that rules are never looked up for the wrong game.
States are kept short (at most four objects besides room and agent, two to four properties each)
so that a tiny model trained from scratch can learn the dynamics. Invalid and no-op actions
("open lamp", "look", "take fruit" before it exists) make a realistic share of rows unchanged.

Held-out splits never share a transition with train: episodes of each split come from their own
seed stream, and a validation/test row whose (game, current objects, action) occurs in the first
`max(TRAIN_REFERENCE_ROWS_PER_GAME, 4 * rows per game)` train rows of that game (same seed) is
dropped. Rows of a game do not depend on the other games asked for, so this covers any train set
of up to `TRAIN_REFERENCE_ROWS_PER_GAME` rows per game.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
from dataclasses import dataclass
from itertools import islice
from typing import Callable

SPLITS = ("train", "validation", "test")
MAX_STEPS = 12  # steps per episode at most; an episode also stops at gameOver
TRAIN_REFERENCE_ROWS_PER_GAME = 2500
ROOM, AGENT = 1, 0
FULL_GROWN = 3  # plant stage at which a fruit appears
FRUIT_FRESHNESS = 4  # ticks until a fruit rots (it loses 1 per tick)
STAGES = ("a seed", "a sprout", "a bush", "fruiting")
MASS_NOUNS = ("water",)

# Random policy: the best of CHANGING_TRIES random state-changing actions, else "wait", else any action.
P_CHANGING, P_WAIT, CHANGING_TRIES = 0.55, 0.1, 3

Spec = tuple[str, str, dict, str]  # (short name, type, properties, short name of the parent)
Effect = Callable[[], None] | None  # applies a planned action; None = the action changes nothing


class World:
    """A mutable game world: objects by uuid, the next free uuid and the events so far."""

    def __init__(self, place: str, specs: list[Spec], rng: random.Random):
        """Room, agent and the `specs` objects, which get uuids 2.. in random order."""
        self.place = place
        self.events: set[str] = set()
        self.objects: dict[int, dict] = {}
        for base, type_, uuid in (("room", "World", ROOM), ("agent", "Agent", AGENT)):
            self._create(base, type_, {}, uuid)
        uuids = list(range(2, 2 + len(specs)))
        rng.shuffle(uuids)
        placed = sorted(zip(uuids, specs))
        by_base = {"room": self.objects[ROOM], "agent": self.objects[AGENT]}
        for uuid, (base, type_, props, _) in placed:
            by_base[base] = self._create(base, type_, props, uuid)
        by_base["room"]["contains"].append(by_base["agent"]["name"])
        for uuid, (base, _, _, parent) in placed:
            by_base[parent]["contains"].append(by_base[base]["name"])
        self.max_uuid = 2 + len(specs)

    def _create(self, base: str, type_: str, props: dict, uuid: int) -> dict:
        obj = {"name": f"{base} (ID: {uuid})", "uuid": uuid, "type": type_, "properties": dict(props), "contains": []}
        self.objects[uuid] = obj
        return obj

    def clone(self) -> World:
        """An independent copy, for trying actions out."""
        twin = copy.copy(self)
        twin.objects = {uuid: _copy_object(o) for uuid, o in self.objects.items()}
        twin.events = set(self.events)
        return twin

    def add(self, base: str, type_: str, props: dict, parent: dict) -> dict:
        """A new object with uuid max_UUID (which then grows by one), placed in `parent`."""
        obj = self._create(base, type_, props, self.max_uuid)
        self.max_uuid += 1
        parent["contains"].append(obj["name"])
        return obj

    def remove(self, obj: dict) -> None:
        """Delete `obj` and everything inside it from the world."""
        for child in self.children(obj):
            self.remove(child)
        self.parent(obj)["contains"].remove(obj["name"])
        del self.objects[obj["uuid"]]

    def move(self, obj: dict, dest: dict) -> None:
        self.parent(obj)["contains"].remove(obj["name"])
        dest["contains"].append(obj["name"])

    def parent(self, obj: dict) -> dict | None:
        return next((o for o in self.objects.values() if obj["name"] in o["contains"]), None)

    def children(self, obj: dict) -> list[dict]:
        by_name = {o["name"]: o for o in self.objects.values()}
        return [by_name[name] for name in obj["contains"]]

    def of_type(self, type_: str) -> list[dict]:
        return [o for o in self.objects.values() if o["type"] == type_]

    def inside(self, obj: dict, container: dict) -> bool:
        """Whether `obj` is (directly or deeper) inside `container`."""
        parent = self.parent(obj)
        return parent is not None and (parent is container or self.inside(parent, container))

    def named(self, base: str) -> dict | None:
        """The object whose short name is `base`, if present."""
        return next((o for o in self.objects.values() if short_name(o) == base), None)

    def visible(self, base: str) -> dict | None:
        """The object called `base` if the agent can reach it: not inside a closed container."""
        obj = self.named(base)
        if obj is None or obj["uuid"] in (ROOM, AGENT):
            return None
        parent = self.parent(obj)
        while parent is not None:
            if not parent["properties"].get("isOpen", True):
                return None
            parent = self.parent(parent)
        return obj

    def look(self) -> str:
        room = self.objects[ROOM]
        things = [o for o in self.children(room) if o["uuid"] != AGENT]
        return f"You are in the {self.place}. In the {self.place}, you see:\n\tyourself\n" + self._listing(things, 1)

    def inventory(self) -> str:
        held = self.children(self.objects[AGENT])
        if not held:
            return "Your inventory is empty."
        return "You have the following items in your inventory:\n" + self._listing(held, 1)

    def _listing(self, objs: list[dict], depth: int) -> str:
        """One indented line per object, followed by the contents of open containers."""
        text = ""
        for obj in objs:
            text += "\t" * depth + describe(obj) + "\n"
            if obj["properties"].get("isOpen", True):
                text += self._listing(self.children(obj), depth + 1)
        return text

    def snapshot(self, observation: str, last_action: str, task: str) -> dict:
        """The state in dataset format (a deep copy)."""
        return {
            "observation": observation,
            "look": self.look(),
            "inventory": self.inventory(),
            "taskDesc": task,
            "lastAction": last_action,
            "objects": [_copy_object(o) for o in self.objects.values()],
            "max_UUID": self.max_uuid,
        }


def _copy_object(obj: dict) -> dict:
    return {**obj, "properties": dict(obj["properties"]), "contains": list(obj["contains"])}


def short_name(obj: dict) -> str:
    """'lamp (ID: 2)' -> 'lamp'."""
    return obj["name"].rsplit(" (ID: ", 1)[0]


PHRASES: dict[str, Callable[[object], str]] = {
    "isOn": lambda v: "on" if v else "off",
    "isOpen": lambda v: "open" if v else "closed",
    "isLit": lambda v: "lit" if v else "unlit",
    "isWatered": lambda v: "watered" if v else "dry",
    "temperature": lambda v: f"at {v} degrees",
    "stage": lambda v: STAGES[v],
    "freshness": lambda v: f"fresh for {v} more turns",
}


def describe(obj: dict) -> str:
    """'a lamp (ID: 2), which is off'."""
    base = short_name(obj)
    article = "some" if base in MASS_NOUNS else "an" if base[0] in "aeiou" else "a"
    phrases = [PHRASES[key](value) for key, value in obj["properties"].items() if key in PHRASES]
    return f"{article} {obj['name']}" + (", which is " + " and ".join(phrases) if phrases else "")


# ---- actions: each planner checks an action and returns (observation, effect) without changing the world


def _open(obj: dict, want_open: bool) -> tuple[str, Effect]:
    base, verb = short_name(obj), "open" if want_open else "close"
    if "isOpen" not in obj["properties"]:
        return f"You can't {verb} the {base}.", None
    if obj["properties"]["isOpen"] == want_open:
        return f"The {base} is already {PHRASES['isOpen'](want_open)}.", None
    return f"You {verb} the {base}.", lambda: obj["properties"].update(isOpen=want_open)


def _switch(obj: dict, want_on: bool) -> tuple[str, Effect]:
    base, state = short_name(obj), PHRASES["isOn"](want_on)
    if "isOn" not in obj["properties"]:
        return f"You can't turn {state} the {base}.", None
    if obj["properties"]["isOn"] == want_on:
        return f"The {base} is already {state}.", None
    return f"You turn {state} the {base}.", lambda: obj["properties"].update(isOn=want_on)


def _take(world: World, obj: dict) -> tuple[str, Effect]:
    base, agent = short_name(obj), world.objects[AGENT]
    if world.parent(obj) is agent:
        return f"You already have the {base}.", None
    if not obj["properties"]["isMoveable"]:
        return f"You can't take the {base}.", None
    return f"You take the {base}.", lambda: world.move(obj, agent)


def _put(world: World, obj: dict, dest: dict) -> tuple[str, Effect]:
    base, dest_base = short_name(obj), short_name(dest)
    if world.parent(obj) is not world.objects[AGENT]:
        return f"You don't have the {base}.", None
    if not dest["properties"]["isContainer"] or world.inside(dest, obj):
        return f"You can't put the {base} in the {dest_base}.", None
    if not dest["properties"].get("isOpen", True):
        return f"The {dest_base} is closed.", None
    return f"You put the {base} in the {dest_base}.", lambda: world.move(obj, dest)


def _water(world: World, obj: dict) -> tuple[str, Effect]:
    base, props = short_name(obj), obj["properties"]
    if "isWatered" not in props:
        return f"You can't water the {base}.", None
    if not any(o["type"] == "WateringCan" for o in world.children(world.objects[AGENT])):
        return "You have nothing to water it with.", None
    if props["stage"] == FULL_GROWN:
        return f"The {base} is fully grown.", None
    if props["isWatered"]:
        return f"The {base} is already watered.", None
    return f"You water the {base}.", lambda: props.update(isWatered=True)


def _eat(world: World, obj: dict) -> tuple[str, Effect]:
    base = short_name(obj)
    if not obj["properties"].get("isEdible"):
        return f"You can't eat the {base}.", None

    def effect() -> None:
        world.remove(obj)
        world.events.add(f"ate {base}")

    return f"You eat the {base}.", effect


PLANNERS: dict[str, Callable[..., tuple[str, Effect]]] = {
    "look": lambda world: (world.look(), None),
    "inventory": lambda world: (world.inventory(), None),
    "wait": lambda world: ("You wait.", None),
    "examine": lambda world, obj: (f"You see {describe(obj)}.", None),
    "open": lambda world, obj: _open(obj, True),
    "close": lambda world, obj: _open(obj, False),
    "turn on": lambda world, obj: _switch(obj, True),
    "turn off": lambda world, obj: _switch(obj, False),
    "take": _take,
    "put": _put,
    "water": _water,
    "eat": _eat,
}
NO_OBJECT_VERBS = ("look", "inventory", "wait")


def plan(world: World, verb: str, names: tuple[str, ...]) -> tuple[str, Effect]:
    """The observation and effect of `verb` on the named objects (which must be reachable)."""
    objs = []
    for base in names:
        obj = world.visible(base)
        if obj is None:
            return f"You don't see {'some' if base in MASS_NOUNS else 'a'} {base} here.", None
        objs.append(obj)
    return PLANNERS[verb](world, *objs)


def action_text(verb: str, names: tuple[str, ...]) -> str:
    return f"put {names[0]} in {names[1]}" if verb == "put" else " ".join((verb, *names))


# ---- games


@dataclass(frozen=True)
class Game:
    """A game: its objects (`setup`), world dynamics (`tick`), `score` and the words the policy uses."""

    name: str
    task: str
    place: str
    rules: dict[str, str]
    nouns: tuple[str, ...]  # every short name that can occur, present or not
    verbs: tuple[str, ...]  # one-object verbs; "put", "look", "inventory" and "wait" always exist
    setup: Callable[[random.Random], list[Spec]]
    tick: Callable[[World], None]
    score: Callable[[World], tuple[int, bool, bool]]  # (score, won, lost)

    def actions(self) -> list[tuple[str, tuple[str, ...]]]:
        """All (verb, names) the policy may try, valid or not."""
        acts = [(verb, ()) for verb in NO_OBJECT_VERBS]
        acts += [(verb, (noun,)) for verb in self.verbs for noun in self.nouns]
        acts += [("put", (a, b)) for a in self.nouns for b in self.nouns if a != b]
        return acts


def _distractor(rng: random.Random, pool: list[Spec]) -> list[Spec]:
    """No distractor, or one drawn from `pool` (equally likely)."""
    return rng.sample(pool, rng.randint(0, 1))


def _in(world: World, base: str, container_base: str) -> bool:
    obj, container = world.named(base), world.named(container_base)
    return obj is not None and world.parent(obj) is container


def _lamp_setup(rng: random.Random) -> list[Spec]:
    return [
        ("lamp", "Lamp", {"isContainer": True, "isMoveable": False, "isOn": rng.random() < 0.4}, "room"),
        ("drawer", "Drawer", {"isContainer": True, "isMoveable": False, "isOpen": rng.random() < 0.3}, "room"),
        ("bulb", "Bulb", {"isContainer": False, "isMoveable": True, "isLit": False}, rng.choice(["room", "drawer", "drawer", "agent"])),
    ] + _distractor(rng, [
        ("fan", "Fan", {"isContainer": False, "isMoveable": False, "isOn": rng.random() < 0.5}, "room"),
        ("book", "Book", {"isContainer": False, "isMoveable": True}, rng.choice(["room", "drawer", "agent"])),
    ])


def _lamp_tick(world: World) -> None:
    lamp = world.named("lamp")
    for bulb in world.of_type("Bulb"):
        bulb["properties"]["isLit"] = world.parent(bulb) is lamp and lamp["properties"]["isOn"]


def _lamp_score(world: World) -> tuple[int, bool, bool]:
    lit = world.named("bulb")["properties"]["isLit"]
    return int(_in(world, "bulb", "lamp")) + int(lit), lit, False


def _box_setup(rng: random.Random) -> list[Spec]:
    return [
        ("box", "Box", {"isContainer": True, "isMoveable": False, "isOpen": rng.random() < 0.3}, "room"),
        ("chest", "Chest", {"isContainer": True, "isMoveable": False, "isOpen": rng.random() < 0.3}, "room"),
        ("key", "Key", {"isContainer": False, "isMoveable": True}, rng.choice(["box", "box", "room"])),
    ] + _distractor(rng, [
        ("coin", "Coin", {"isContainer": False, "isMoveable": True}, rng.choice(["room", "box", "chest"])),
        ("bag", "Bag", {"isContainer": True, "isMoveable": True}, rng.choice(["room", "agent"])),
    ])


def _box_score(world: World) -> tuple[int, bool, bool]:
    done = _in(world, "key", "chest")
    return 2 if done else int(_in(world, "key", "agent")), done, False


def _heat_setup(rng: random.Random) -> list[Spec]:
    return [
        ("stove", "Stove", {"isContainer": True, "isMoveable": False, "isOn": rng.random() < 0.3}, "room"),
        ("pot", "Pot", {"isContainer": True, "isMoveable": True}, rng.choice(["room", "room", "stove", "agent"])),
        ("water", "Water", {"isContainer": False, "isMoveable": False, "temperature": rng.choice([10, 15, 20, 25, 30])}, "pot"),
    ] + _distractor(rng, [
        ("mug", "Mug", {"isContainer": True, "isMoveable": True}, rng.choice(["room", "agent"])),
        ("spoon", "Spoon", {"isContainer": False, "isMoveable": True}, rng.choice(["room", "agent"])),
    ])


def _heat_tick(world: World) -> None:
    """Water in a pot on a stove that is on warms by 25 (to at most 100); elsewhere it cools by 5 down to 20."""
    for water in world.of_type("Water"):
        props, pot = water["properties"], world.parent(water)
        stove = world.parent(pot)
        if stove["type"] == "Stove" and stove["properties"]["isOn"]:
            props["temperature"] = min(100, props["temperature"] + 25)
        elif props["temperature"] > 20:
            props["temperature"] = max(20, props["temperature"] - 5)


def _heat_score(world: World) -> tuple[int, bool, bool]:
    boiling = world.named("water")["properties"]["temperature"] >= 100
    on_stove = _in(world, "pot", "stove")
    return int(on_stove) + int(world.named("stove")["properties"]["isOn"]) + int(boiling), boiling, False


def _grow_setup(rng: random.Random) -> list[Spec]:
    return [
        ("plant", "Plant", {"isContainer": True, "isMoveable": False, "stage": rng.choice([0, 1, 2]), "isWatered": False}, "room"),
        ("can", "WateringCan", {"isContainer": False, "isMoveable": True}, rng.choice(["room", "agent", "agent", "shed"])),
        ("shed", "Shed", {"isContainer": True, "isMoveable": False, "isOpen": rng.random() < 0.5}, "room"),
    ] + _distractor(rng, [
        ("apple", "Apple", {"isContainer": False, "isMoveable": True, "isEdible": True}, rng.choice(["room", "shed", "agent"])),
        ("stone", "Stone", {"isContainer": False, "isMoveable": True}, "room"),
    ])


def _grow_tick(world: World) -> None:
    """Fruits lose freshness and rot away at 0; a watered plant uses the water and grows one stage."""
    for fruit in world.of_type("Fruit"):
        fruit["properties"]["freshness"] -= 1
        if fruit["properties"]["freshness"] == 0:
            world.remove(fruit)
            world.events.add("fruit rotted")
    for plant in world.of_type("Plant"):
        props = plant["properties"]
        if props["isWatered"]:
            props.update(isWatered=False, stage=props["stage"] + 1)
            if props["stage"] == FULL_GROWN:
                fruit = {"isContainer": False, "isMoveable": True, "isEdible": True, "freshness": FRUIT_FRESHNESS}
                world.add("fruit", "Fruit", fruit, plant)


def _grow_score(world: World) -> tuple[int, bool, bool]:
    won = "ate fruit" in world.events
    return world.named("plant")["properties"]["stage"] + int(won), won, "fruit rotted" in world.events


COMMON_ACTION_RULES = (
    "An action that breaks a rule, or names something not reachable, changes nothing.\n"
    "look / inventory / examine X / wait: change nothing (time still passes).\n"
    "take X: X must be reachable (not inside a closed container), isMoveable and not already held; it moves to the agent.\n"
    "put X in Y: X must be held, Y reachable, isContainer and open (or without isOpen); X moves into Y.\n"
    "open X / close X: only objects with isOpen; sets isOpen."
)
COMMON_OBJECT_RULES = (
    "room (World) contains the agent and the top-level objects; agent (Agent) contains the inventory.\n"
    "isContainer: can hold objects (listed in contains). isMoveable: can be taken. "
    "isOpen (if present): the container can be opened and closed; closed contents are unreachable.\n"
)

GAMES: dict[str, Game] = {
    game.name: game
    for game in (
        Game(
            name="lamp-switch",
            task="Your task is to light the bulb.",
            place="bedroom",
            rules={
                "object": COMMON_OBJECT_RULES + "lamp: a container (its socket) with isOn. bulb: isLit. "
                "drawer: openable container. fan: isOn, does nothing.",
                "action": COMMON_ACTION_RULES + "\nturn on X / turn off X: only objects with isOn; sets isOn.",
                "score": "+1 while the bulb is in the lamp, +1 while the bulb is lit.\n"
                "Each tick a bulb becomes lit if it is in a lamp that is on, and unlit otherwise.\n"
                "The game is won (gameOver, gameWon) when the bulb is lit.",
            },
            nouns=("lamp", "drawer", "bulb", "fan", "book"),
            verbs=("examine", "take", "open", "close", "turn on", "turn off"),
            setup=_lamp_setup,
            tick=_lamp_tick,
            score=_lamp_score,
        ),
        Game(
            name="box-key",
            task="Your task is to put the key in the chest.",
            place="hall",
            rules={
                "object": COMMON_OBJECT_RULES + "box, chest: openable containers that cannot be moved. "
                "key, coin: small movable things. bag: a movable container without a lid.",
                "action": COMMON_ACTION_RULES + "\nNothing changes on its own over time.",
                "score": "Score 1 while the agent holds the key, 2 once the key is in the chest.\n"
                "The game is won (gameOver, gameWon) when the key is in the chest.",
            },
            nouns=("box", "chest", "key", "coin", "bag"),
            verbs=("examine", "take", "open", "close"),
            setup=_box_setup,
            tick=lambda world: None,
            score=_box_score,
        ),
        Game(
            name="heat-water",
            task="Your task is to boil the water.",
            place="kitchen",
            rules={
                "object": COMMON_OBJECT_RULES + "stove: a container with isOn; a pot in it sits on the stove. "
                "pot, mug: movable containers. water: temperature in degrees, cannot be taken.",
                "action": COMMON_ACTION_RULES + "\nturn on X / turn off X: only objects with isOn; sets isOn.",
                "score": "Each tick, water in a pot on a stove that is on gets 25 degrees hotter (at most 100); "
                "otherwise water above 20 degrees cools by 5 (not below 20).\n"
                "+1 while the pot is on the stove, +1 while the stove is on, +1 when the water is at 100.\n"
                "The game is won (gameOver, gameWon) when the water reaches 100 degrees.",
            },
            nouns=("stove", "pot", "water", "mug", "spoon"),
            verbs=("examine", "take", "turn on", "turn off"),
            setup=_heat_setup,
            tick=_heat_tick,
            score=_heat_score,
        ),
        Game(
            name="grow-plant",
            task="Your task is to grow a fruit and eat it.",
            place="garden",
            rules={
                "object": COMMON_OBJECT_RULES + "plant: stage 0 seed, 1 sprout, 2 bush, 3 fruiting; isWatered. "
                "can: a watering can. shed: openable container. fruit, apple: isEdible; fruit has freshness.",
                "action": COMMON_ACTION_RULES + "\nwater X: X must have isWatered, be below stage 3 and dry, "
                "and the agent must hold the can; sets isWatered.\n"
                "eat X: X must be reachable and isEdible; X is removed.",
                "score": "Each tick a fruit loses 1 freshness and is removed at 0 (rotted). Then a watered plant "
                "becomes dry and grows one stage; at stage 3 a new fruit (freshness 4) appears in the plant.\n"
                "Score = the plant's stage, +1 once the fruit is eaten.\n"
                "Eating the fruit wins (gameOver, gameWon); a rotted fruit loses (gameOver).",
            },
            nouns=("plant", "can", "shed", "fruit", "apple", "stone"),
            verbs=("examine", "take", "open", "close", "water", "eat"),
            setup=_grow_setup,
            tick=_grow_tick,
            score=_grow_score,
        ),
    )
}


def rules(game: str) -> dict[str, str]:
    """The game's rule texts: {"object": ..., "action": ..., "score": ...}."""
    if game not in GAMES:
        raise ValueError(f"unknown game {game!r}; expected one of {sorted(GAMES)}")
    return dict(GAMES[game].rules)


# ---- playing episodes and writing rows


def _score_state(game: Game, world: World) -> dict:
    score, won, lost = game.score(world)
    return {"score": score, "gameOver": won or lost, "gameWon": won}


def _pick(actions: list, rng: random.Random) -> tuple[str, tuple[str, ...]]:
    """A random action: first a verb, then an action with that verb (so "put X in Y" does not dominate)."""
    verb = rng.choice(sorted({v for v, _ in actions}))
    return rng.choice([act for act in actions if act[0] == verb])


def _outcome(game: Game, world: World, action: tuple[str, tuple[str, ...]]) -> tuple[bool, bool, int]:
    """How good an action is: (won, not lost, score) after it and one tick, tried on a copy of the world."""
    trial = world.clone()
    plan(trial, *action)[1]()
    game.tick(trial)
    score, won, lost = game.score(trial)
    return won, not lost, score


def _choose(game: Game, world: World, actions: list, rng: random.Random) -> tuple[str, tuple[str, ...]]:
    """Mostly the best of a few random state-changing actions (so games progress), sometimes "wait", else anything."""
    changing = [act for act in actions if plan(world, *act)[1] is not None]
    draw = rng.random()
    if changing and draw < P_CHANGING:
        return max((_pick(changing, rng) for _ in range(CHANGING_TRIES)), key=lambda act: _outcome(game, world, act))
    if draw < P_CHANGING + P_WAIT:
        return "wait", ()
    return _pick(actions, rng)


def _episode(game: Game, rng: random.Random) -> list[dict]:
    """Rows (without game and state_id) of one episode played by the random policy."""
    world = World(game.place, game.setup(rng), rng)
    actions = game.actions()
    state = world.snapshot(world.look(), "", game.task)
    rows = []
    for _ in range(MAX_STEPS):
        verb, names = _choose(game, world, actions, rng)
        text = action_text(verb, names)
        score_before = _score_state(game, world)
        observation, effect = plan(world, verb, names)
        if effect is not None:
            effect()
        action_state = world.snapshot(observation, text, game.task)
        game.tick(world)
        tick_state = world.snapshot(observation, text, game.task)
        score_after = _score_state(game, world)
        rows.append({
            "current_state": state,
            "action_state": action_state,
            "tick_state": tick_state,
            "current_score_state": score_before,
            "next_score_state": score_after,
        })
        if score_after["gameOver"]:
            break
        state = world.snapshot(observation, text, game.task)
    return rows


def _episode_seed(seed: int, split: str, game: str, index: int) -> int:
    digest = hashlib.sha256(f"{seed}/{split}/{game}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _row_key(row: dict) -> tuple[str, str]:
    """What makes a transition the same within one game: the current objects and the action."""
    return json.dumps(row["current_state"]["objects"], sort_keys=True), row["tick_state"]["lastAction"]


_TRAIN_KEYS: dict[tuple[str, int, int], set] = {}


def _train_keys(game: str, seed: int, count: int) -> set:
    """Keys of the first `count` train rows of `game` (cached)."""
    if (game, seed, count) not in _TRAIN_KEYS:
        _TRAIN_KEYS[game, seed, count] = {_row_key(row) for row in _game_rows(game, "train", count, seed)}
    return _TRAIN_KEYS[game, seed, count]


def _stream(game: str, split: str, seed: int, episodes: int):
    """Rows of `game` from `episodes` episodes, each seeded by (seed, split, game, episode index)."""
    for index in range(episodes):
        yield from _episode(GAMES[game], random.Random(_episode_seed(seed, split, game, index)))


def _game_rows(game: str, split: str, count: int, seed: int) -> list[dict]:
    """The first `count` rows of `game` in `split`; held-out splits skip rows that occur in train."""
    seen_in_train = set() if split == "train" else _train_keys(game, seed, max(TRAIN_REFERENCE_ROWS_PER_GAME, 4 * count))
    stream = _stream(game, split, seed, episodes=10 * count + 100)  # bounded: held-out rows get rarer as more are taken
    rows = list(islice((row for row in stream if _row_key(row) not in seen_in_train), count))
    if len(rows) < count:
        raise RuntimeError(f"found only {len(rows)} of {count} {split} rows of {game!r} that are not in train")
    return [{"game": game, "state_id": i, **row} for i, row in enumerate(rows)]


def generate(split: str, num_rows: int, seed: int = 0, games: list[str] | None = None) -> list[dict]:
    """`num_rows` transitions of `split`, balanced across `games` (default: all) and interleaved.

    Deterministic for (split, num_rows, seed, games). state_id is the row's index within its game.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    if isinstance(num_rows, bool) or not isinstance(num_rows, int) or num_rows < 1:
        raise ValueError(f"num_rows must be a positive integer, got {num_rows!r}")
    names = list(GAMES) if games is None else list(dict.fromkeys(games))
    unknown = [g for g in names if g not in GAMES]
    if unknown:
        raise ValueError(f"unknown game(s) {unknown} in games; expected some of {sorted(GAMES)}")
    if not names:
        raise ValueError("games must name at least one game (or be None for all)")
    from tqdm import tqdm

    games_bar = tqdm(list(enumerate(names)), desc=f"text-game {split} rows", unit="game", disable=None, leave=False)  # a bar on a terminal only
    per_game = [_game_rows(g, split, num_rows // len(names) + (i < num_rows % len(names)), seed) for i, g in games_bar]
    return [rows[i] for i in range(max(map(len, per_game))) for rows in per_game if i < len(rows)]
