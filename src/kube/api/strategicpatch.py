"""Strategic merge patch (`application/strategic-merge-patch+json`), as kube-apiserver applies it.

A strategic merge patch is a JSON merge patch (RFC 7386: maps merge recursively, `null`
deletes a key, anything else replaces) that also knows, from the type's schema (a
`PatchMeta`, see `kube.api.patchmeta`), how to merge lists:

- a list with patch strategy `merge` and a merge key (containers by `name`, ports by
  `containerPort`) merges element by element: a patch element whose key matches an existing
  element is merged into it, the others are added;
- a list of primitives with strategy `merge` (`finalizers`) becomes the union of both;
- any other list (`tolerations`, `args`; every list of an unknown type) is replaced.

Directives in the patch say more than a merge can:

- `$patch: replace` in a map replaces the map; `$patch: delete` empties it; as a list element,
  `{"$patch": "replace"}` replaces the list by the patch's other elements and
  `{"name": "x", "$patch": "delete"}` removes the elements whose merge key is `x`;
- `$retainKeys: [a, b]` keeps only those keys of the map (fields with the `retainKeys`
  strategy, such as a volume's source or a Deployment's `strategy`);
- `$deleteFromPrimitiveList/<field>: [v]` removes values from a merged primitive list;
- `$setElementOrder/<field>: [...]` gives the final order of a merged list; elements of the
  live list that it does not mention keep their place relative to the others.

The element order follows upstream exactly, quirks included: the patch's elements go in
the order of the patch (or of `$setElementOrder`), live-only elements in their live order,
and the two are interleaved so that an element the live list does not know comes before
the live-only elements that follow it -- so an element added by a patch without
`$setElementOrder` lands at the front of the list, as it does on a real cluster. Where
upstream's outcome hangs on Go details (a sort with an inconsistent comparison, deletions
and appends done in place on the live list's array), those are replayed.

This module follows k8s.io/apimachinery/pkg/util/strategicpatch (StrategicMergeMapPatch,
mergeMap, mergeSlice, normalizeElementOrder, CreateTwoWayMergeMapPatch). It differs on
purpose only where upstream's behaviour is an accident:

- no directive ever survives into the result: upstream copies the directives inside a
  brand-new value (a new volume's `$retainKeys`, a new container's `$setElementOrder/env`)
  through and drops a new map carrying `$patch`; here a new map with `$patch: replace` is
  kept without the marker and every other directive of a new value is removed;
- `$patch: merge` in a map is a plain merge (upstream: "unknown patch type");
- a `$setElementOrder` for a list that is empty on both sides orders nothing (upstream fails
  with "no elements in any of the given slices");
- a value both added to a primitive list and listed in its `$deleteFromPrimitiveList` is
  handled in the patch's key order (upstream: in Go's random map order).

Errors are `StrategicMergePatchError` with upstream's messages and, in `code`, the HTTP status
upstream answers with: 400 for malformed directives, 422 for lists of lists, and 500 for the
rest (upstream passes those errors through unconverted, which makes a 500 Status with an empty
reason and the message verbatim; kubectl prints it as "Error from server: <message>").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final, NamedTuple

from kube.api.patch import PatchError
from kube.api.patchmeta import SCHEMALESS, PatchMeta

__all__ = [
    "SCHEMALESS",
    "PatchMeta",
    "StrategicMergePatchError",
    "create_two_way_merge_patch",
    "strategic_merge_patch",
]

DIRECTIVE: Final = "$patch"
REPLACE: Final = "replace"
DELETE: Final = "delete"
MERGE: Final = "merge"
RETAIN_KEYS: Final = "$retainKeys"
DELETE_FROM_PRIMITIVE_LIST: Final = "$deleteFromPrimitiveList"
SET_ELEMENT_ORDER: Final = "$setElementOrder"

BAD_PRIMITIVE_LIST: Final = "invalid patch format of primitive list"
BAD_RETAIN_KEYS: Final = "invalid patch format of retainKeys"
BAD_SET_ELEMENT_ORDER: Final = "invalid patch format of setElementOrder list"
LISTS_OF_LISTS: Final = "lists of lists are not supported"

_MAP_TYPE: Final = "map[string]interface {}"
_SLICE_TYPE: Final = "[]interface {}"


class StrategicMergePatchError(PatchError):
    """A strategic merge patch cannot be applied; `code` is the HTTP status upstream answers."""

    def __init__(self, message: str, code: int = 500) -> None:
        super().__init__(message)
        self.code = code


def strategic_merge_patch(
    original: Mapping[str, Any], patch: Mapping[str, Any], meta: PatchMeta
) -> dict[str, Any]:
    """Apply `patch` to `original` (both JSON objects as dicts) for the type `meta` describes.

    Returns a new object; neither input is modified. `meta` is `SCHEMALESS` for a type with
    no schema (lists are then replaced, as by a JSON merge patch).
    """
    if not isinstance(patch, Mapping):
        raise StrategicMergePatchError(
            f"json: cannot unmarshal {_json_kind(patch)} into Go value of type {_MAP_TYPE}", 400
        )
    if not isinstance(original, Mapping):
        raise StrategicMergePatchError(
            f"expected a {_MAP_TYPE}, but received a {_go_type(original)}"
        )
    try:
        return _merge_map(_copy(original), _copy(patch), meta)
    except StrategicMergePatchError:
        raise
    except PatchError as err:  # from the schema lookups
        raise StrategicMergePatchError(str(err)) from None


def create_two_way_merge_patch(
    original: Mapping[str, Any], modified: Mapping[str, Any], meta: PatchMeta
) -> dict[str, Any]:
    """The patch that turns `original` into `modified` (upstream's CreateTwoWayMergePatch).

    With `$setElementOrder` lists, `$retainKeys` for fields that have the `retainKeys`
    strategy, `$patch: delete` elements and `$deleteFromPrimitiveList` lists, as kubectl
    computes them. Lists with merge keys must not repeat a key, nor merged primitive lists a
    value (upstream cannot express those either).
    """
    try:
        patch: dict[str, Any] = _copy(_diff_maps(original, modified, meta, retain_keys=False))
    except StrategicMergePatchError:
        raise
    except PatchError as err:
        raise StrategicMergePatchError(str(err)) from None
    return patch


# --- applying ---------------------------------------------------------------------------


def _merge_map(original: dict[str, Any], patch: dict[str, Any], meta: PatchMeta) -> dict[str, Any]:
    """Merge `patch` into `original` in place (both private copies); upstream's mergeMap."""
    if DIRECTIVE in patch:
        directive = patch.pop(DIRECTIVE)
        if directive == REPLACE:
            return _new_map(patch)
        if directive == DELETE:
            return {}
        if directive != MERGE:
            patch[DIRECTIVE] = directive
            raise _bad_patch_type(directive, patch)
    _apply_retain_keys(original, patch)
    _merge_ordered_lists(original, patch, meta)

    for key, value in list(patch.items()):
        is_delete_list = key.startswith(DELETE_FROM_PRIMITIVE_LIST)
        if is_delete_list:
            key = _field_of(key, DELETE_FROM_PRIMITIVE_LIST, BAD_PRIMITIVE_LIST)
        if value is None:
            original.pop(key, None)
            continue
        current = original.get(key, _ABSENT)
        if current is _ABSENT or _shape(current) != _shape(value):
            if not is_delete_list:
                _set_new(original, key, value)
            continue
        if isinstance(current, dict):
            sub, field = meta.lookup_struct(key)
            _, strategy = field.split()
            if strategy == REPLACE:
                original[key] = _new_map(value)
            else:
                original[key] = _merge_map(current, value, sub)
        elif isinstance(current, list):
            sub, field = meta.lookup_slice(key)
            _, strategy = field.split()
            original[key] = _merge_list_field(
                current, value, sub, strategy, field.merge_key, is_delete_list
            ).merged
        else:
            original[key] = value
    return original


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    """`$retainKeys`: every key the patch sets must be listed; unlisted keys are cleared."""
    if RETAIN_KEYS not in patch:
        return
    listed = patch.pop(RETAIN_KEYS)
    if not isinstance(listed, list):
        raise StrategicMergePatchError(BAD_RETAIN_KEYS, 400)
    retain = {key for key in listed if isinstance(key, str)}
    for key, value in patch.items():
        if value is None or key.startswith((DELETE_FROM_PRIMITIVE_LIST, SET_ELEMENT_ORDER)):
            continue
        if key not in retain:
            raise StrategicMergePatchError(BAD_RETAIN_KEYS, 400)
    for key in [key for key in original if key not in retain]:
        del original[key]


def _merge_ordered_lists(original: dict[str, Any], patch: dict[str, Any], meta: PatchMeta) -> None:
    """Merge each list named by a `$setElementOrder/<field>`, then order it by that list.

    Upstream's mergePatchIntoOriginal: the merged list is split into the elements the order
    list names and the live-only ones, and `_normalize_element_order` interleaves them. Both
    the directive and the list are removed from `patch`.
    """
    for directive in [key for key in patch if key.startswith(SET_ELEMENT_ORDER)]:
        order = patch.pop(directive)
        if not isinstance(order, list):
            raise _bad_arg_type(_SLICE_TYPE, order)
        key = _field_of(directive, SET_ELEMENT_ORDER, BAD_SET_ELEMENT_ORDER)
        current = original.get(key, _ABSENT)
        change = patch.get(key, _ABSENT)
        if current is not _ABSENT and not isinstance(current, list):
            raise _bad_arg_type(_SLICE_TYPE, current)
        if change is not _ABSENT and not isinstance(change, list):
            raise _bad_arg_type(_SLICE_TYPE, change)
        sub, field = meta.lookup_slice(key)
        _, strategy = field.split()
        merge_key = field.merge_key
        live: list[Any] = current if isinstance(current, list) else []
        changes: list[Any] = change if isinstance(change, list) else []
        _check_order(changes, order, merge_key)
        if change is _ABSENT:
            if current is _ABSENT:
                continue
            merged, live_order = live, live
        elif current is _ABSENT:
            merged, live_order = _new_list(changes), live
        else:
            merged, live_order = _merge_list_field(live, changes, sub, strategy, merge_key, False)
        patch.pop(key, None)
        kind = _element_kind(live, changes, allow_empty=True)
        if kind is None:  # nothing to order (upstream fails here: "no elements in ...")
            original[key] = merged
            continue
        named, live_only = _partition(merged, order, merge_key)
        original[key] = _normalize_element_order(
            named, live_only, order, live_order, merge_key, kind
        )


def _check_order(changes: list[Any], order: list[Any], merge_key: str) -> None:
    """The patch's elements must appear in `$setElementOrder`, in the same relative order."""
    if not order or not changes:
        return
    kept = _split_deletions(changes)[0] if merge_key else changes
    at = seen = 0
    while at < len(kept) and seen < len(order):
        if isinstance(kept[at], dict) and DIRECTIVE in kept[at]:
            at += 1
            continue
        if _merge_key_equal(kept[at], order[seen], merge_key):
            at += 1
        seen += 1
    if at < len(kept) and seen >= len(order):
        raise StrategicMergePatchError(
            f"The order in patch list:\n{_go(changes)}\n doesn't match "
            f"{SET_ELEMENT_ORDER} list:\n{_go(order)}\n"
        )


def _merge_list_field(
    live: list[Any],
    changes: list[Any],
    meta: PatchMeta,
    strategy: str,
    merge_key: str,
    is_delete_list: bool,
) -> _Merged:
    """Upstream's mergeSliceHandler: merge a `merge` list (or apply a deletion list), else
    replace it."""
    if strategy == MERGE or is_delete_list:
        return _merge_list(live, changes, meta, merge_key, is_delete_list)
    return _Merged(_new_list(changes), live)


class _Merged(NamedTuple):
    """A merged list, and the live list as upstream's caller sees it afterwards.

    Upstream deletes `$patch: delete` elements from the live list in place (the elements
    after each one shift left, leaving a stale copy in the last slot), and adds new elements
    with `append`, which writes them into the slots the deletions freed. `$setElementOrder`
    then orders the elements it does not name by that mutated array, not by the live list as
    it was; `view` replays it.
    """

    merged: list[Any]
    view: list[Any]


def _merge_list(
    live: list[Any], changes: list[Any], meta: PatchMeta, merge_key: str, is_delete_list: bool
) -> _Merged:
    """Upstream's mergeSlice: union primitives, merge maps by key, then order the result."""
    if not live and not changes:
        return _Merged(live, live)
    kind = _element_kind(live, changes)
    view = live
    if kind is not dict:
        if is_delete_list:
            doomed = {_ident(v) for v in changes}
            return _Merged([v for v in live if _ident(v) not in doomed], live)
        merged = _dedup(live + changes)
    else:
        if not merge_key:
            raise StrategicMergePatchError(f"cannot merge lists without merge key for {meta.name}")
        backing, kept, changes, replace = _apply_list_directives(live, changes, merge_key)
        if replace:
            live = [_new_map(element) for element in changes]
            changes = []
        else:
            live = backing[:kept]
        merged = list(live)
        for element in changes:
            if merge_key not in element:
                raise _no_merge_key(element, merge_key)
            at = _find(merged, merge_key, element[merge_key])
            if at >= 0:
                merged[at] = _merge_map(merged[at], element, meta)
            else:
                merged.append(_new_map(element))
        view = backing if replace else merged[: len(backing)] + backing[len(merged) :]
    named, live_only = _partition(merged, changes, merge_key)
    ordered = _normalize_element_order(named, live_only, changes, live, merge_key, kind)
    return _Merged(ordered, view)


def _apply_list_directives(
    live: list[Any], changes: list[Any], merge_key: str
) -> tuple[list[Any], int, list[Any], bool]:
    """Apply the `$patch` elements of a merged list of maps.

    Returns the live list's backing array after the deletions (as Go leaves it), how many
    elements are left in it, the patch's plain elements and whether a `{"$patch": "replace"}`
    element asks for the plain elements to replace the list.
    """
    backing = list(live)
    kept = len(backing)
    plain: list[Any] = []
    replace = False
    for element in changes:
        if DIRECTIVE not in element:
            plain.append(element)
            continue
        directive = element[DIRECTIVE]
        if directive == DELETE:
            if merge_key not in element:
                raise _no_merge_key(element, merge_key)
            while (at := _find(backing[:kept], merge_key, element[merge_key])) >= 0:
                backing[at : kept - 1] = backing[at + 1 : kept]
                kept -= 1
        elif directive == REPLACE:
            replace = True
        elif directive == MERGE:
            raise StrategicMergePatchError("merging lists cannot yet be specified in the patch")
        else:
            raise _bad_patch_type(directive, element)
    return backing, kept, plain, replace


# --- ordering ---------------------------------------------------------------------------


def _normalize_element_order(
    named: list[Any],
    live_only: list[Any],
    order: list[Any],
    live_order: list[Any],
    merge_key: str,
    kind: type,
) -> list[Any]:
    """Upstream's normalizeElementOrder: sort `named` by `order` and `live_only` by the live
    list, then interleave them (`_merge_sorted`)."""
    named = _normalize_slice_order(named, order, merge_key, kind)
    live_only = _normalize_slice_order(live_only, live_order, merge_key, kind)
    return _merge_sorted(live_only, named, live_order, merge_key, kind)


def _normalize_slice_order(
    items: list[Any], order: list[Any], merge_key: str, kind: type
) -> list[Any]:
    """Sort `items` by their place in `order`; `$patch: delete` elements go last."""
    deletions: list[Any] = []
    if kind is dict:
        for element in (*items, *order):
            if not isinstance(element, dict):
                raise _bad_arg_type(_MAP_TYPE, element)
            if merge_key not in element:
                raise _no_merge_key(element, merge_key)
        items, deletions = _split_deletions(items)
    index = _OrderIndex(order, merge_key, kind)
    return _go_stable_sort(items, [index.find(item) for item in items]) + deletions


def _merge_sorted(
    left: list[Any], right: list[Any], order: list[Any], merge_key: str, kind: type
) -> list[Any]:
    """Upstream's mergeSortedSlice: take from `left` only while both heads are in `order` and
    the left one comes first; an element `order` does not know is taken from `right` at once."""
    index = _OrderIndex(order, merge_key, kind)
    out: list[Any] = []
    i = j = 0
    while i < len(left) and j < len(right):
        li, ri = index.find(left[i]), index.find(right[j])
        if li >= 0 and ri >= 0 and li < ri:
            out.append(left[i])
            i += 1
        else:
            out.append(right[j])
            j += 1
    return out + left[i:] + right[j:]


class _OrderIndex:
    """The first position of each element (of each merge key value, for maps) in a list.

    Equality is Go's interface equality: same JSON type and value (`1` is not `1.0` nor
    `true`); maps and lists as values are never found.
    """

    def __init__(self, order: list[Any], merge_key: str, kind: type) -> None:
        self._key = merge_key if kind is dict else None
        self._first: dict[tuple[type, Any], int] = {}
        for at, item in enumerate(order):
            self._first.setdefault(self._ident(item), at)

    def _ident(self, item: Any) -> tuple[type, Any]:
        if self._key is not None:
            item = item.get(self._key) if isinstance(item, dict) else None
        return _ident(item)

    def find(self, item: Any) -> int:
        ident = self._ident(item)
        return -1 if ident[0] is _Unfindable else self._first.get(ident, -1)


def _go_stable_sort(items: list[Any], places: list[int]) -> list[Any]:
    """Go's sort.SliceStable of `items` by `places`, with upstream's comparison: i < j when
    both are placed and i's place is smaller, and always when either is unplaced.

    That comparison is not an order when some item is unplaced, so the result depends on the
    algorithm; this replays Go's (insertion sort of blocks of 20, then SymMerge).
    """
    if all(place >= 0 for place in places):
        return [items[i] for i in sorted(range(len(items)), key=places.__getitem__)]
    data = list(zip(places, items, strict=True))

    def less(i: int, j: int) -> bool:
        a, b = data[i][0], data[j][0]
        return a < b if a >= 0 and b >= 0 else True

    def swap(i: int, j: int) -> None:
        data[i], data[j] = data[j], data[i]

    _go_stable(len(data), less, swap)
    return [item for _, item in data]


def _go_stable(n: int, less: Callable[[int, int], bool], swap: Callable[[int, int], None]) -> None:
    def insertion_sort(a: int, b: int) -> None:
        for i in range(a + 1, b):
            j = i
            while j > a and less(j, j - 1):
                swap(j, j - 1)
                j -= 1

    def swap_range(a: int, b: int, count: int) -> None:
        for i in range(count):
            swap(a + i, b + i)

    def rotate(a: int, m: int, b: int) -> None:
        i, j = m - a, b - m
        while i != j:
            if i > j:
                swap_range(m - i, m, j)
                i -= j
            else:
                swap_range(m - i, m + j - i, i)
                j -= i
        swap_range(m - i, m, i)

    def sym_merge(a: int, m: int, b: int) -> None:
        if m - a == 1:
            i, j = m, b
            while i < j:
                h = (i + j) // 2
                if less(h, a):
                    i = h + 1
                else:
                    j = h
            for k in range(a, i - 1):
                swap(k, k + 1)
            return
        if b - m == 1:
            i, j = a, m
            while i < j:
                h = (i + j) // 2
                if not less(m, h):
                    i = h + 1
                else:
                    j = h
            for k in range(m, i, -1):
                swap(k, k - 1)
            return
        mid = (a + b) // 2
        n = mid + m
        if m > mid:
            start, r = n - b, mid
        else:
            start, r = a, m
        p = n - 1
        while start < r:
            c = (start + r) // 2
            if not less(p - c, c):
                start = c + 1
            else:
                r = c
        end = n - start
        if start < m < end:
            rotate(start, m, end)
        if a < start < mid:
            sym_merge(a, start, mid)
        if mid < end < b:
            sym_merge(mid, end, b)

    block = 20
    a, b = 0, block
    while b <= n:
        insertion_sort(a, b)
        a, b = b, b + block
    insertion_sort(a, n)
    while block < n:
        a, b = 0, 2 * block
        while b <= n:
            sym_merge(a, a + block, b)
            a, b = b, b + 2 * block
        if a + block < n:
            sym_merge(a, a + block, n)
        block *= 2


# --- new values -------------------------------------------------------------------------


class _Absent:
    pass


_ABSENT: Final = _Absent()


def _set_new(original: dict[str, Any], key: str, value: Any) -> None:
    """Store a patch value the original has no counterpart for, without its directives."""
    entry = _new_entry(value)
    if entry is _ABSENT:
        original.pop(key, None)
    else:
        original[key] = entry


def _new_entry(value: Any) -> Any:
    """A patch value as a stored value: nulls (in maps) and directives dropped, a
    `$patch: delete` map absent (`_ABSENT`), a `$patch: replace` map kept without its marker."""
    if isinstance(value, dict):
        if DIRECTIVE in value:
            directive = value[DIRECTIVE]
            if directive == DELETE:
                return _ABSENT
            if directive not in (REPLACE, MERGE):
                raise _bad_patch_type(directive, value)
        return _new_map(value)
    if isinstance(value, list):
        return _new_list(value)
    return value


def _new_map(patch: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in patch.items():
        if value is not None and not _is_directive(key):
            entry = _new_entry(value)
            if entry is not _ABSENT:
                out[key] = entry
    return out


def _new_list(patch: list[Any]) -> list[Any]:
    """A patch list as a value: its `$patch` elements (list directives) dropped."""
    return [_new_entry(v) for v in patch if not (isinstance(v, dict) and DIRECTIVE in v)]


def _is_directive(key: str) -> bool:
    return key in (DIRECTIVE, RETAIN_KEYS) or key.startswith(
        (SET_ELEMENT_ORDER, DELETE_FROM_PRIMITIVE_LIST)
    )


# --- diffing ----------------------------------------------------------------------------


def _diff_maps(
    original: Mapping[str, Any], modified: Mapping[str, Any], meta: PatchMeta, retain_keys: bool
) -> dict[str, Any]:
    """Upstream's diffMaps (two-way: additions, changes and deletions, with element order)."""
    patch: dict[str, Any] = {}
    retained: list[str] = []
    for key, new in modified.items():
        if retain_keys and new is not None:
            retained.append(key)
        old = original.get(key, _ABSENT)
        if old is _ABSENT:
            patch[key] = new
            continue
        if key == DIRECTIVE:
            if not isinstance(old, str) or not isinstance(new, str):
                raise StrategicMergePatchError(f"invalid value for special key: {DIRECTIVE}")
            if old != new:
                patch[key] = new
            continue
        if type(old) is not type(new):
            patch[key] = new
        elif isinstance(old, dict):
            _diff_map_field(key, old, new, patch, meta)
        elif isinstance(old, list):
            _diff_list_field(key, old, new, patch, meta)
        elif not _deep_equal(old, new):
            patch[key] = new
    for key in original:
        if key not in modified:
            patch[key] = None
    if retained and (
        patch or any(v is not None and k not in modified for k, v in original.items())
    ):
        patch[RETAIN_KEYS] = _sort_scalars(retained)
    return patch


def _diff_map_field(
    key: str, old: dict[str, Any], new: dict[str, Any], patch: dict[str, Any], meta: PatchMeta
) -> None:
    try:
        sub, field = meta.lookup_struct(key)
    except PatchError:
        if _deep_equal(old, new):
            return
        raise
    retain_keys, strategy = field.split()
    if strategy == REPLACE:
        patch[key] = new
        return
    change = _diff_maps(old, new, sub, retain_keys)
    if change:
        patch[key] = change


def _diff_list_field(
    key: str, old: list[Any], new: list[Any], patch: dict[str, Any], meta: PatchMeta
) -> None:
    try:
        sub, field = meta.lookup_slice(key)
    except PatchError:
        if _deep_equal(old, new):
            return
        raise
    retain_keys, strategy = field.split()
    if strategy != MERGE:
        if not _deep_equal(old, new):
            patch[key] = new
        return
    changes, deletions, order = _diff_lists(old, new, sub, field.merge_key, retain_keys)
    if changes:
        patch[key] = changes
    if deletions:
        patch[f"{DELETE_FROM_PRIMITIVE_LIST}/{key}"] = deletions
    if order:
        patch[f"{SET_ELEMENT_ORDER}/{key}"] = order


def _diff_lists(
    old: list[Any], new: list[Any], meta: PatchMeta, merge_key: str, retain_keys: bool
) -> tuple[list[Any], list[Any], list[Any]]:
    """(changed and added elements, primitives to delete, the `$setElementOrder` list)."""
    if not old:
        return list(new), [], []
    kind = _element_kind(old, new)
    if kind is dict:
        changes, deletions = _diff_lists_of_maps(old, new, meta, merge_key, retain_keys)
        changes = _normalize_slice_order(changes, new, merge_key, dict) + deletions
        same_order = len(old) == len(new) and all(
            _merge_key_equal(a, b, merge_key) for a, b in zip(old, new, strict=True)
        )
        order = [{merge_key: v[merge_key]} for v in new] if changes or not same_order else []
        return changes, [], order
    additions, deletions = _diff_lists_of_scalars(old, new)
    additions = _normalize_slice_order(additions, new, merge_key, kind)
    order = list(new) if deletions or not _deep_equal(old, new) else []
    return additions, deletions, order


def _diff_lists_of_scalars(old: list[Any], new: list[Any]) -> tuple[list[Any], list[Any]]:
    """Walk both lists sorted by their printed form (as upstream does): (added, removed)."""
    olds, news = _sort_scalars(old), _sort_scalars(new)
    additions: list[Any] = []
    deletions: list[Any] = []
    i = j = 0
    while i < len(olds) or j < len(news):
        a = _go(olds[i]) if i < len(olds) else None
        b = _go(news[j]) if j < len(news) else None
        if a is not None and b is not None and a == b:
            i, j = i + 1, j + 1
        elif a is None or (b is not None and a > b):
            additions.append(news[j])
            j += 1
        else:
            deletions.append(olds[i])
            i += 1
    return additions, _dedup(deletions)


def _diff_lists_of_maps(
    old: list[Any], new: list[Any], meta: PatchMeta, merge_key: str, retain_keys: bool
) -> tuple[list[Any], list[Any]]:
    """Walk both lists sorted by printed merge key: (changed and added elements, deletions)."""

    def by_key(items: list[Any]) -> list[tuple[str, dict[str, Any]]]:
        keyed = []
        for item in items:
            if not isinstance(item, dict):
                raise _bad_arg_type(_MAP_TYPE, item)
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            keyed.append((_go(item[merge_key]), item))
        return sorted(keyed, key=lambda pair: pair[0])

    olds, news = by_key(old), by_key(new)
    changes: list[Any] = []
    deletions: list[Any] = []
    i = j = 0
    while i < len(olds) or j < len(news):
        a = olds[i][0] if i < len(olds) else None
        b = news[j][0] if j < len(news) else None
        if a is not None and b is not None and a == b:
            change = _diff_maps(olds[i][1], news[j][1], meta, retain_keys)
            if change:
                change[merge_key] = news[j][1][merge_key]
                changes.append(change)
            i, j = i + 1, j + 1
        elif a is None or (b is not None and a > b):
            changes.append(news[j][1])
            j += 1
        else:
            deletions.append({DIRECTIVE: DELETE, merge_key: olds[i][1][merge_key]})
            i += 1
    return changes, deletions


# --- helpers ----------------------------------------------------------------------------


class _Unfindable:
    """The type tag of values Go cannot compare (maps, lists)."""


def _ident(value: Any) -> tuple[type, Any]:
    """A hashable identity with Go's interface equality (type and value); a map or a list
    equals nothing (Go cannot compare them)."""
    if isinstance(value, (dict, list)):
        return _Unfindable, object()
    return type(value), value


def _same(a: Any, b: Any) -> bool:
    return not isinstance(a, (dict, list)) and type(a) is type(b) and a == b


def _deep_equal(a: Any, b: Any) -> bool:
    """Go's reflect.DeepEqual on JSON values (`1`, `1.0` and `true` all differ)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_deep_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(_deep_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _dedup(items: list[Any]) -> list[Any]:
    seen: set[tuple[type, Any]] = set()
    out = []
    for item in items:
        ident = _ident(item)
        if ident not in seen:
            seen.add(ident)
            out.append(item)
    return out


def _partition(merged: list[Any], by: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    """(the elements of `merged` that `by` names, the others), each in merged order."""
    if not merge_key:
        named = {_ident(v) for v in by}
        return (
            [v for v in merged if _ident(v) in named],
            [v for v in merged if _ident(v) not in named],
        )
    inside: list[Any] = []
    outside: list[Any] = []
    for element in merged:
        if not isinstance(element, dict):
            raise _bad_arg_type(_MAP_TYPE, element)
        if merge_key not in element:
            raise _no_merge_key(element, merge_key)
        found = _find(by, merge_key, element[merge_key]) >= 0
        (inside if found else outside).append(element)
    return inside, outside


def _find(items: list[Any], merge_key: str, value: Any) -> int:
    for at, item in enumerate(items):
        if not isinstance(item, dict):
            raise StrategicMergePatchError(f"value for key {at} is not a map")
        if merge_key in item and _same(item[merge_key], value):
            return at
    return -1


def _split_deletions(items: list[Any]) -> tuple[list[Any], list[Any]]:
    kept: list[Any] = []
    deleted: list[Any] = []
    for item in items:
        if not isinstance(item, dict):
            raise _bad_arg_type(_MAP_TYPE, item)
        (deleted if item.get(DIRECTIVE) == DELETE else kept).append(item)
    return kept, deleted


def _merge_key_equal(left: Any, right: Any, merge_key: str) -> bool:
    if not merge_key:
        return _same(left, right)
    for item in (left, right):
        if not isinstance(item, dict):
            raise _bad_arg_type(_MAP_TYPE, item)
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
    return _same(left[merge_key], right[merge_key])


def _element_kind(*lists: list[Any], allow_empty: bool = False) -> Any:
    """The one type of all the lists' elements (upstream's sliceElementType)."""
    kind: Any = None
    for items in lists:
        for item in items:
            if kind is None:
                kind = type(item)
                if kind is list:
                    raise StrategicMergePatchError(LISTS_OF_LISTS, 422)
            elif type(item) is not kind:
                raise StrategicMergePatchError(
                    f"list element types are not identical: {_go(list(lists))}"
                )
    if kind is None and not allow_empty:
        raise StrategicMergePatchError("no elements in any of the given slices")
    return kind


def _shape(value: Any) -> type:
    return dict if isinstance(value, dict) else list if isinstance(value, list) else object


def _field_of(key: str, prefix: str, error: str) -> str:
    """`<prefix>/<field>` -> field (upstream's extractKey)."""
    head, sep, tail = key.partition("/")
    if not sep or head != prefix:
        raise StrategicMergePatchError(error, 400)
    return tail


def _sort_scalars(items: list[Any]) -> list[Any]:
    return sorted(items, key=_go)


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _bad_arg_type(expected: str, actual: Any) -> StrategicMergePatchError:
    return StrategicMergePatchError(f"expected a {expected}, but received a {_go_type(actual)}")


def _no_merge_key(element: Any, merge_key: str) -> StrategicMergePatchError:
    return StrategicMergePatchError(
        f"map: {_go(element)} does not contain declared merge key: {merge_key}"
    )


def _bad_patch_type(directive: Any, where: Any) -> StrategicMergePatchError:
    if isinstance(directive, str):
        shown = directive
    elif directive is None:
        shown = "%!s(<nil>)"
    else:
        shown = f"%!s({_go_type(directive)}={_go(directive)})"
    return StrategicMergePatchError(f"unknown patch type: {shown} in map: {_go(where)}")


def _go_type(value: Any) -> str:
    """Go's name for the type a JSON value decodes to (for upstream's messages)."""
    if isinstance(value, Mapping):
        return _MAP_TYPE
    if isinstance(value, list):
        return _SLICE_TYPE
    if value is None:
        return "%!s(<nil>)"
    return {bool: "bool", int: "int64", float: "float64"}.get(type(value), "string")


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "null" if value is None else "value"


def _go(value: Any) -> str:
    """A JSON value as Go's `%v` prints it (`map[a:1 b:[x y]]`), for upstream's messages."""
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{_go(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    return str(value)


def _go_float(value: float) -> str:
    """strconv.FormatFloat(v, 'g', -1, 64): shortest digits, exponent form below 1e-4 and
    from 1e6 (`%v` of a float64)."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if str(value).startswith("-") else "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    point = len(text) + exponent  # where the decimal point goes
    lead = "-" if sign else ""
    if point - 1 < -4 or point - 1 >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        power = point - 1
        return f"{lead}{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
    if point <= 0:
        return f"{lead}0.{'0' * -point}{text}"
    if point >= len(text):
        return lead + text + "0" * (point - len(text))
    return f"{lead}{text[:point]}.{text[point:]}"
