"""Printing accessibility trees as WebArena does, and the change between two of them."""

from worlds.web.tree import IdMap, diff_items, parse_tree, render_target, render_tree, target_changes, tree_lines


def node(node_id, role, name="", children=(), dom=None, props=(), ignored=False, value=None):
    n = {"nodeId": str(node_id), "ignored": ignored, "role": {"type": "role", "value": role}, "name": {"type": "computedString", "value": name},
         "properties": [{"name": k, "value": {"type": "x", "value": v}} for k, v in props], "childIds": [str(c) for c in children],
         "backendDOMNodeId": dom if dom is not None else (node_id if node_id > 0 else None)}
    if value is not None:
        n["value"] = {"type": "string", "value": value}
    return n


def page(textbox_value=None, extra=()):
    return {"nodes": [
        node(40, "RootWebArea", "Form", [41, 7], props=[("focused", True), ("url", "file:///home/me/x.html")]),
        node(41, "generic", "", [43, 44, 45]),                      # empty generic: dropped, children move up
        node(7, "none", "", [50], ignored=True),                    # ignored: dropped
        node(43, "textbox", "Name", [-3], props=[("focusable", True), ("required", False)], value=textbox_value),
        node(-3, "InlineTextBox", "x"),                             # non-DOM text: dropped
        node(44, "image", "logo"),                                  # Chrome 156's `image` is WebArena's `img`
        node(45, "LineBreak", "\n"),
        node(50, "button", "Submit", [51, *extra]),
        node(51, "StaticText", "Submit"),
        *[node(e, "StaticText", f"note {e}") for e in extra],
    ]}


def test_tree_is_printed_as_webarena_does_with_ids_renumbered_in_order():
    ids = IdMap()
    lines = tree_lines(page(), ids)
    assert render_tree(lines, "Form") == (
        "Tab 0 (current): Form\n\n"
        "[1] RootWebArea 'Form' focused: True\n"
        "\t[2] textbox 'Name' required: False\n"
        "\t[3] img 'logo'\n"
        "\t[4] button 'Submit'\n"
        "\t\t[5] StaticText 'Submit'"
    )
    assert ids.ids == {40: 1, 43: 2, 44: 3, 50: 4, 51: 5}
    assert parse_tree(render_tree(lines, "Form")) == lines  # the printed text reads back to the same lines


def test_the_change_by_id_new_deleted_updated():
    ids = IdMap()
    before = tree_lines(page(), ids)
    after = tree_lines(page(textbox_value="Ann", extra=(60,)), ids)   # typed into the box, a note appeared
    gone = [line for line in after if line[0] != 3]                    # and the logo went away
    items = diff_items(before, gone)
    assert items == {
        "New items:": ["[6] StaticText 'note 60'"],
        "Deleted items:": ["[3] img 'logo'"],
        "Updated items:": ["[2] textbox 'Name' value: Ann required: False"],
    }
    assert render_target(items) == (
        "New items:\n[6] StaticText 'note 60'\n\nDeleted items:\n[3] img 'logo'\n\nUpdated items:\n[2] textbox 'Name' value: Ann required: False"
    )
    nothing = render_target(diff_items(before, before))
    assert nothing == "New items:\nNone\n\nDeleted items:\nNone\n\nUpdated items:\nNone"
    assert not target_changes(nothing) and target_changes(render_target(items))


def test_ids_stay_stable_within_an_episode():
    ids = IdMap()
    tree_lines(page(), ids)
    again = tree_lines(page(extra=(60,)), ids)
    assert [i for i, _, _ in again] == [1, 2, 3, 4, 5, 6]
