# cython: boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Label and field selector matching, compiled: built as `kube.native._labels`.

Same signatures and results as the pure-Python reference `kube/native/labels.py` (read it
for the semantics); `kube.native` picks one of the two. The speed comes from compiling the
requirements once into a C array (operator as an int, key and value set as borrowed pointers,
the gt/lt bound as an int64) and then running one C loop per object: dict lookups through
`PyDict_GetItemWithError`, set membership through `PySet_Contains`, integer parsing on the
string's ASCII buffer; no Python-level call per object or per requirement.
"""

from cpython.dict cimport PyDict_CheckExact, PyDict_GetItemWithError
from cpython.list cimport PyList_Append
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.object cimport Py_EQ, PyObject, PyObject_RichCompareBool
from cpython.set cimport PySet_Contains
from cpython.unicode cimport PyUnicode_Check, PyUnicode_DATA, PyUnicode_GET_LENGTH


cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object o)


cdef enum LabelOp:
    OP_IN
    OP_NOT_IN
    OP_EXISTS
    OP_NOT_EXISTS
    OP_GT
    OP_LT


cdef struct LabelReq:
    int op
    PyObject* key       # borrowed: the compiled list keeps it alive
    PyObject* values    # frozenset, borrowed likewise
    long long bound     # gt/lt only


cdef struct FieldReq:
    bint equal          # True for = and ==, False for !=
    bint matches_absent # what an absent field (read as "") gives
    PyObject* field
    PyObject* value


_LABEL_OPS = {
    "in": OP_IN, "=": OP_IN, "==": OP_IN,
    "notin": OP_NOT_IN, "!=": OP_NOT_IN,
    "exists": OP_EXISTS, "!": OP_NOT_EXISTS,
    "gt": OP_GT, "lt": OP_LT,
    # matchExpressions spellings, as in the reference
    "In": OP_IN, "NotIn": OP_NOT_IN, "Exists": OP_EXISTS, "DoesNotExist": OP_NOT_EXISTS,
    "Gt": OP_GT, "Lt": OP_LT,
}
_FIELD_OPS = {"=": True, "==": True, "!=": False}

cdef object _MISSING = object()


cdef bint _parse_int64(object value, long long* out) noexcept:
    """Go's strconv.ParseInt(value, 10, 64): optional sign, ASCII digits, int64 range."""
    if not PyUnicode_Check(value) or not PyUnicode_IS_ASCII(value):
        return False
    cdef const char* s = <const char*>PyUnicode_DATA(value)
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(value)
    cdef Py_ssize_t i = 0
    cdef bint negative = False
    cdef unsigned long long magnitude = 0, limit, digit
    if n > 0 and (s[0] == c'+' or s[0] == c'-'):
        negative = s[0] == c'-'
        i = 1
    if i == n:
        return False
    limit = 9223372036854775808ULL if negative else 9223372036854775807ULL
    while i < n:
        if s[i] < c'0' or s[i] > c'9':
            return False
        digit = <unsigned long long>(s[i] - c'0')
        if magnitude > (limit - digit) // 10:
            return False
        magnitude = magnitude * 10 + digit
        i += 1
    out[0] = <long long>(0ULL - magnitude) if negative else <long long>magnitude
    return True


cdef inline PyObject* _lookup(object mapping, PyObject* key, bint is_dict, list hold) except? NULL:
    """The value under key (borrowed), or NULL when absent. For mappings that are not
    dicts the value is a new object: `hold` keeps it alive until the caller is done."""
    if is_dict:
        return PyDict_GetItemWithError(mapping, <object>key)
    found = mapping.get(<object>key, _MISSING)
    if found is _MISSING:
        return NULL
    hold[0] = found
    return <PyObject*>found


cdef int _labels_match(LabelReq* reqs, Py_ssize_t count, object labels, list hold) except -1:
    cdef bint is_dict = PyDict_CheckExact(labels)
    cdef Py_ssize_t j
    cdef LabelReq* req
    cdef PyObject* value
    cdef long long number
    for j in range(count):
        req = &reqs[j]
        value = _lookup(labels, req.key, is_dict, hold)
        if req.op == OP_IN:
            if value == NULL or not PySet_Contains(<object>req.values, <object>value):
                return 0
        elif req.op == OP_NOT_IN:
            if value != NULL and PySet_Contains(<object>req.values, <object>value):
                return 0
        elif req.op == OP_EXISTS:
            if value == NULL:
                return 0
        elif req.op == OP_NOT_EXISTS:
            if value != NULL:
                return 0
        else:
            if value == NULL or not _parse_int64(<object>value, &number):
                return 0
            if req.op == OP_GT:
                if not number > req.bound:
                    return 0
            elif not number < req.bound:
                return 0
    return 1


def match_labels(requirements, label_sets):
    """Indices of the label sets that satisfy every requirement, in order."""
    compiled = []  # (key, op, frozenset(values), bound) tuples: owns what the C array points at
    cdef long long bound
    cdef bint never = False
    for key, op, values in requirements:
        code = _LABEL_OPS.get(op)
        if code is None:
            raise ValueError(f"unknown label selector operator {op!r}")
        bound = 0
        if code == OP_GT or code == OP_LT:
            if len(values) != 1 or not _parse_int64(next(iter(values)), &bound):
                never = True  # an unparsable bound matches nothing
        compiled.append((key, code, frozenset(values), bound))
    if never:
        return []

    cdef Py_ssize_t count = len(compiled), j, index = 0
    cdef LabelReq* reqs = <LabelReq*>PyMem_Malloc(max(count, 1) * sizeof(LabelReq))
    if reqs == NULL:
        raise MemoryError()
    cdef list result = []
    cdef list hold = [None]
    try:
        for j in range(count):
            entry = compiled[j]
            reqs[j].key = <PyObject*>entry[0]
            reqs[j].op = entry[1]
            reqs[j].values = <PyObject*>entry[2]
            reqs[j].bound = entry[3]
        for labels in label_sets:
            if _labels_match(reqs, count, labels, hold):
                PyList_Append(result, index)
            index += 1
    finally:
        PyMem_Free(reqs)
    return result


cdef int _fields_match(FieldReq* reqs, Py_ssize_t count, object fields, list hold) except -1:
    cdef bint is_dict = PyDict_CheckExact(fields)
    cdef Py_ssize_t j
    cdef FieldReq* req
    cdef PyObject* value
    for j in range(count):
        req = &reqs[j]
        value = _lookup(fields, req.field, is_dict, hold)
        if value == NULL:
            if not req.matches_absent:
                return 0
        elif PyObject_RichCompareBool(<object>value, <object>req.value, Py_EQ) != req.equal:
            return 0
    return 1


def match_fields(requirements, field_sets):
    """Indices of the field sets that satisfy every field requirement, in order."""
    compiled = []
    for field, op, value in requirements:
        equal = _FIELD_OPS.get(op)
        if equal is None:
            raise ValueError(f"unknown field selector operator {op!r}")
        compiled.append((field, equal, value, ("" == value) == equal))

    cdef Py_ssize_t count = len(compiled), j, index = 0
    cdef FieldReq* reqs = <FieldReq*>PyMem_Malloc(max(count, 1) * sizeof(FieldReq))
    if reqs == NULL:
        raise MemoryError()
    cdef list result = []
    cdef list hold = [None]
    try:
        for j in range(count):
            entry = compiled[j]
            reqs[j].field = <PyObject*>entry[0]
            reqs[j].equal = entry[1]
            reqs[j].value = <PyObject*>entry[2]
            reqs[j].matches_absent = entry[3]
        for fields in field_sets:
            if _fields_match(reqs, count, fields, hold):
                PyList_Append(result, index)
            index += 1
    finally:
        PyMem_Free(reqs)
    return result
