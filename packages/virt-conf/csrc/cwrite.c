/* virt.conf._cwrite: the writers' plans in C (see virt/conf/_writeplan.py).
 *
 * One PlanWriter object a model class: called as write(model, w, tag), it does what the class's
 * generated Python write function does (virt.conf.xmlmodel.generate_writer), step for step: the same
 * strings appended to w.parts at the same places, the same w.depth changes, the same Python calls
 * (formatters, format_extra, children's writers through the dispatch dict) in the same order.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <string.h>

/* attribute ops */
enum { A_STR, A_INT, A_BOOL, A_MEMO, A_FMT };
/* child ops */
enum { C_LIST, C_TEXT_STR, C_TEXT_FMT, C_FLAG, C_RAW, C_CHILD };

typedef struct {
    int kind;
    PyObject *name; /* the field's Python name */
    PyObject *s1;   /* attr: " key='" (A_BOOL: the whole true piece); child: "<tag>", "<tag/>\n" or ftag */
    PyObject *s2;   /* A_BOOL: the false piece; C_TEXT_*: "</tag>\n" */
    PyObject *fn;   /* the formatter */
    PyObject *memo; /* A_MEMO: the formatter's Memo */
    Py_ssize_t index; /* the field's place in the class's fields: where the instance dict usually has it */
} Op;

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *tag;        /* the class's TAG */
    PyObject *qualname;   /* for repr */
    Py_ssize_t nattrs;
    Op *attrs;
    int ns_instance;      /* NSMAP read only when the instance dict has one (the class declares none) */
    PyObject *ns_fn;      /* nsmap -> " xmlns:p='uri'..." */
    int leaf;             /* no children possible: the whole line at once */
    PyObject *text_name;  /* the Text field, or NULL */
    PyObject *text_fmt;   /* its formatter, or NULL for str() */
    Py_ssize_t text_index;
    Py_ssize_t nchildren;
    Op *children;
    PyObject *hook;       /* format_extra, or NULL */
    int never_self_close;
    PyObject *wd;         /* xmlmodel._WRITE_DISPATCH */
    PyObject *esc_a;      /* escape_attr / escape_text: for what is not an exact str */
    PyObject *esc_t;
} PlanWriter;

static PyObject *s_parts, *s_depth, *s_raw, *s_NSMAP, *s_quote, *s_lt, *s_gt, *s_ltslash, *s_gtnl,
    *s_slashgtnl;

/* ------------------------------------------------------------------------------------ strings */

#define INDENT_CACHE 64
static PyObject *indents[INDENT_CACHE];

/* "  " * depth (new reference) */
static PyObject *indent(long depth) {
    if (depth < 0)
        depth = 0;
    if (depth < INDENT_CACHE) {
        PyObject *s = indents[depth];
        if (s == NULL) {
            s = PyUnicode_New(depth * 2, 127);
            if (s == NULL)
                return NULL;
            memset(PyUnicode_DATA(s), ' ', depth * 2);
            indents[depth] = s;
        }
        Py_INCREF(s);
        return s;
    }
    PyObject *s = PyUnicode_New(depth * 2, 127);
    if (s != NULL)
        memset(PyUnicode_DATA(s), ' ', depth * 2);
    return s;
}

/* which characters escape_attr (1) and escape_text (2) replace */
static unsigned char special[128];

static const char *replacement(Py_UCS4 c, Py_ssize_t *n) {
    switch (c) {
    case '&': *n = 5; return "&amp;";
    case '<': *n = 4; return "&lt;";
    case '>': *n = 4; return "&gt;";
    case '"': *n = 6; return "&quot;";
    default: *n = 6; return "&apos;";
    }
}

/* s (an exact str) escaped as escape_attr (mask 1) or escape_text (mask 2) does: new reference */
static PyObject *escape(PyObject *s, int mask) {
    Py_ssize_t len = PyUnicode_GET_LENGTH(s), extra = 0, i;
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    if (kind == PyUnicode_1BYTE_KIND) {
        /* (most values: a byte scan finds nothing to replace) */
        const Py_UCS1 *b = data;
        for (i = 0; i < len; i++)
            if (b[i] < 128 && (special[b[i]] & mask))
                break;
        if (i == len) {
            Py_INCREF(s);
            return s;
        }
    }
    for (i = 0; i < len; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c < 128 && (special[c] & mask)) {
            Py_ssize_t n;
            replacement(c, &n);
            extra += n - 1;
        }
    }
    if (extra == 0) {
        Py_INCREF(s);
        return s;
    }
    PyObject *out = PyUnicode_New(len + extra, PyUnicode_MAX_CHAR_VALUE(s));
    if (out == NULL)
        return NULL;
    int okind = PyUnicode_KIND(out);
    void *odata = PyUnicode_DATA(out);
    Py_ssize_t o = 0;
    for (i = 0; i < len; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c < 128 && (special[c] & mask)) {
            Py_ssize_t n, j;
            const char *r = replacement(c, &n);
            for (j = 0; j < n; j++)
                PyUnicode_WRITE(okind, odata, o++, (Py_UCS4)r[j]);
        } else {
            PyUnicode_WRITE(okind, odata, o++, c);
        }
    }
    return out;
}

/* f"{ESC(x)}" of the twin, x a formatter's result (stolen): the C escape for an exact str, else the
 * Python escape function and format() as the f-string does */
static PyObject *escape_result(PyObject *x, int mask, PyObject *esc) {
    if (x == NULL)
        return NULL;
    PyObject *r;
    if (PyUnicode_CheckExact(x)) {
        r = escape(x, mask);
    } else {
        PyObject *e = PyObject_CallOneArg(esc, x);
        r = e == NULL ? NULL : PyObject_Format(e, NULL);
        Py_XDECREF(e);
    }
    Py_DECREF(x);
    return r;
}

/* f"{x}" (x borrowed): new reference */
static PyObject *formatted(PyObject *x) {
    if (PyUnicode_CheckExact(x)) {
        Py_INCREF(x);
        return x;
    }
    return PyObject_Format(x, NULL);
}

/* the pieces of one string being built (each an owned exact str) */
typedef struct {
    PyObject **items;
    Py_ssize_t n, cap;
    Py_ssize_t len;  /* their total length */
    Py_UCS4 maxchar; /* their widest character */
    PyObject *stack[48];
} Pieces;

static void pieces_init(Pieces *p) {
    p->items = p->stack;
    p->n = 0;
    p->cap = 48;
    p->len = 0;
    p->maxchar = 127;
}

static void pieces_clear(Pieces *p) {
    for (Py_ssize_t i = 0; i < p->n; i++)
        Py_DECREF(p->items[i]);
    if (p->items != p->stack)
        PyMem_Free(p->items);
    pieces_init(p);
}

static int pieces_grow(Pieces *p, PyObject *s);

/* add a piece (stolen; NULL is an error passed on) */
static inline int pieces_add(Pieces *p, PyObject *s) {
    if (s == NULL)
        return -1;
    if (p->n == p->cap && pieces_grow(p, s) < 0)
        return -1;
    p->items[p->n++] = s;
    p->len += PyUnicode_GET_LENGTH(s);
    if (!PyUnicode_IS_ASCII(s)) {
        Py_UCS4 m = PyUnicode_MAX_CHAR_VALUE(s);
        if (m > p->maxchar)
            p->maxchar = m;
    }
    return 0;
}

static int pieces_grow(Pieces *p, PyObject *s) {
    {
        Py_ssize_t cap = p->cap * 2;
        PyObject **items = PyMem_Malloc(cap * sizeof(PyObject *));
        if (items == NULL) {
            Py_DECREF(s);
            PyErr_NoMemory();
            return -1;
        }
        memcpy(items, p->items, p->n * sizeof(PyObject *));
        if (p->items != p->stack)
            PyMem_Free(p->items);
        p->items = items;
        p->cap = cap;
    }
    return 0;
}

static inline int pieces_add_borrowed(Pieces *p, PyObject *s) {
    Py_INCREF(s);
    return pieces_add(p, s);
}

/* the pieces joined (new reference) */
static PyObject *pieces_join(Pieces *p) {
    Py_ssize_t i, pos = 0;
    PyObject *out = PyUnicode_New(p->len, p->maxchar);
    if (out == NULL)
        return NULL;
    int kind = PyUnicode_KIND(out);
    char *data = PyUnicode_DATA(out);
    if (kind == PyUnicode_1BYTE_KIND) {
        /* (the common case: every piece is Latin-1, most a few characters long) */
        for (i = 0; i < p->n; i++) {
            PyObject *s = p->items[i];
            Py_ssize_t n = PyUnicode_GET_LENGTH(s);
            const char *src = PyUnicode_DATA(s);
            if (n == 1)
                data[pos] = src[0];
            else
                memcpy(data + pos, src, n);
            pos += n;
        }
        return out;
    }
    for (i = 0; i < p->n; i++) {
        PyObject *s = p->items[i];
        Py_ssize_t n = PyUnicode_GET_LENGTH(s);
        if (PyUnicode_KIND(s) == kind) {
            memcpy(data + pos * kind, PyUnicode_DATA(s), n * kind);
        } else if (PyUnicode_CopyCharacters(out, pos, s, 0, n) < 0) {
            Py_DECREF(out);
            return NULL;
        }
        pos += n;
    }
    return out;
}

/* ------------------------------------------------------------------------------------ fields */

/* self.<name>: the instance dict's value, else the attribute (new reference; NULL with an error) */
static PyObject *field(PyObject *d, PyObject *self, PyObject *name) {
    PyObject *v = PyDict_GetItemWithError(d, name);
    if (v != NULL) {
        Py_INCREF(v);
        return v;
    }
    if (PyErr_Occurred())
        return NULL;
    return PyObject_GetAttr(self, name);
}

/* self.<name>, looked for first at the dict's entry ``index``: instances are filled with every field in
 * the class's order (Model.__init__ and the parsers do), so the entry there is the field's, found without
 * a hash lookup; any other layout takes the lookup (new reference; NULL with an error) */
static inline PyObject *field_at(PyObject *d, PyObject *self, PyObject *name, Py_ssize_t index) {
    PyObject *k, *v;
    Py_ssize_t pos = index;
    if (PyDict_Next(d, &pos, &k, &v) && k == name) {
        Py_INCREF(v);
        return v;
    }
    return field(d, self, name);
}

/* str(v) of an exact int: the digits of small numbers made once (ports, indexes, counts repeat) */
#define DIGITS_CACHE 1024
static PyObject *digits[DIGITS_CACHE];

static PyObject *int_str(PyObject *v) {
    int overflow;
    long n = PyLong_AsLongAndOverflow(v, &overflow);
    if (overflow == 0 && n >= 0 && n < DIGITS_CACHE) {
        PyObject *s = digits[n];
        if (s == NULL && (s = digits[n] = PyObject_Str(v)) == NULL)
            return NULL;
        Py_INCREF(s);
        return s;
    }
    return PyObject_Str(v);
}

/* the escaped text of one attribute value, as the twin's _format_expr (new reference) */
static PyObject *attr_value(PlanWriter *pw, Op *op, PyObject *v) {
    switch (op->kind) {
    case A_STR:
        if (PyUnicode_CheckExact(v))
            return escape(v, 1);
        return escape_result(PyObject_Str(v), 1, pw->esc_a);
    case A_INT:
        if (PyLong_CheckExact(v))
            return int_str(v);
        return escape_result(PyObject_Str(v), 1, pw->esc_a);
    case A_MEMO:
        if (PyLong_CheckExact(v)) {
            PyObject *r = PyDict_GetItemWithError(op->memo, v);
            if (r != NULL)
                return formatted(r);
            if (PyErr_Occurred())
                return NULL;
            r = PyObject_GetItem(op->memo, v); /* Memo.__missing__ */
            if (r == NULL)
                return NULL;
            PyObject *f = formatted(r);
            Py_DECREF(r);
            return f;
        }
        return escape_result(PyObject_CallOneArg(op->fn, v), 1, pw->esc_a);
    default: /* A_FMT */
        return escape_result(PyObject_CallOneArg(op->fn, v), 1, pw->esc_a);
    }
}

/* the element's own text, escaped (new reference) */
static PyObject *text_value(PlanWriter *pw, PyObject *v) {
    if (pw->text_fmt == NULL)
        return escape_result(PyObject_Str(v), 2, pw->esc_t);
    return escape_result(PyObject_CallOneArg(pw->text_fmt, v), 2, pw->esc_t);
}

static PyTypeObject PlanWriterType;
static PyObject *plan_write(PlanWriter *pw, PyObject *self, PyObject *w, PyObject *tag);

/* WD[item.__class__](item, w, ftag) */
static int dispatch_in(PyObject *wd, PyObject *item, PyObject *w, PyObject *ftag) {
    PyObject *cls = (PyObject *)Py_TYPE(item);
    PyObject *fn = PyDict_GetItemWithError(wd, cls);
    if (fn != NULL) {
        Py_INCREF(fn);
    } else {
        if (PyErr_Occurred())
            return -1;
        fn = PyObject_GetItem(wd, cls); /* _WriteDispatch.__missing__ compiles it */
        if (fn == NULL)
            return -1;
    }
    if (ftag == NULL) /* (a None slot of an op is NULL) */
        ftag = Py_None;
    PyObject *r;
    if (Py_IS_TYPE(fn, &PlanWriterType)) {
        /* (another class's plan: run directly, no argument parsing) */
        r = plan_write((PlanWriter *)fn, item, w, ftag);
    } else {
        PyObject *args[3] = {item, w, ftag};
        r = PyObject_Vectorcall(fn, args, 3, NULL);
    }
    Py_DECREF(fn);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

static int dispatch(PlanWriter *pw, PyObject *item, PyObject *w, PyObject *ftag) {
    return dispatch_in(pw->wd, item, w, ftag);
}

/* parts[i] += s (s stolen) */
static int part_extend(PyObject *parts, Py_ssize_t i, PyObject *s) {
    if (s == NULL)
        return -1;
    Py_ssize_t n = PyList_GET_SIZE(parts);
    if (i < 0)
        i += n;
    if (i < 0 || i >= n) {
        Py_DECREF(s);
        PyErr_SetString(PyExc_IndexError, "list index out of range");
        return -1;
    }
    PyObject *old = PyList_GET_ITEM(parts, i);
    /* (str + str directly; anything else through the operator, as the twin's +=) */
    PyObject *r = PyUnicode_CheckExact(old) ? PyUnicode_Concat(old, s) : PyNumber_InPlaceAdd(old, s);
    Py_DECREF(s);
    if (r == NULL)
        return -1;
    n = PyList_GET_SIZE(parts); /* (an __iadd__ of a str subclass could have run Python code) */
    if (i >= n) {
        Py_DECREF(r);
        PyErr_SetString(PyExc_IndexError, "list assignment index out of range");
        return -1;
    }
    PyList_SetItem(parts, i, r);
    return 0;
}

static int append_stolen(PyObject *parts, PyObject *s) {
    if (s == NULL)
        return -1;
    int rc = PyList_Append(parts, s);
    Py_DECREF(s);
    return rc;
}

/* one child op of a non-leaf element; inner is IND[depth + 1] */
static int write_child(PlanWriter *pw, Op *op, PyObject *self, PyObject *d, PyObject *w, PyObject *parts,
                       PyObject *inner) {
    PyObject *v = field_at(d, self, op->name, op->index);
    if (v == NULL)
        return -1;
    if (op->kind == C_LIST) {
        int truth = PyObject_IsTrue(v);
        Py_DECREF(v);
        if (truth <= 0)
            return truth;
        v = field_at(d, self, op->name, op->index);
        if (v == NULL)
            return -1;
        if (PyList_CheckExact(v)) {
            /* (indexes checked each step, as the list iterator does) */
            for (Py_ssize_t i = 0; i < PyList_GET_SIZE(v); i++) {
                PyObject *item = PyList_GET_ITEM(v, i);
                Py_INCREF(item);
                int rc = dispatch(pw, item, w, op->s1);
                Py_DECREF(item);
                if (rc < 0) {
                    Py_DECREF(v);
                    return -1;
                }
            }
            Py_DECREF(v);
            return 0;
        }
        PyObject *it = PyObject_GetIter(v);
        Py_DECREF(v);
        if (it == NULL)
            return -1;
        PyObject *item;
        while ((item = PyIter_Next(it)) != NULL) {
            int rc = dispatch(pw, item, w, op->s1);
            Py_DECREF(item);
            if (rc < 0) {
                Py_DECREF(it);
                return -1;
            }
        }
        Py_DECREF(it);
        return PyErr_Occurred() ? -1 : 0;
    }
    if (v == Py_None || v == Py_False) {
        Py_DECREF(v);
        return 0;
    }
    int rc = 0;
    switch (op->kind) {
    case C_TEXT_STR:
    case C_TEXT_FMT: {
        PyObject *value;
        if (op->kind == C_TEXT_FMT)
            value = escape_result(PyObject_CallOneArg(op->fn, v), 2, pw->esc_t);
        else if (PyUnicode_CheckExact(v))
            value = escape(v, 2);
        else
            value = escape_result(PyObject_Str(v), 2, pw->esc_t);
        if (value == NULL) {
            rc = -1;
            break;
        }
        Pieces p;
        pieces_init(&p);
        pieces_add_borrowed(&p, inner);
        pieces_add_borrowed(&p, op->s1);
        pieces_add(&p, value);
        pieces_add_borrowed(&p, op->s2);
        rc = append_stolen(parts, pieces_join(&p));
        pieces_clear(&p);
        break;
    }
    case C_FLAG:
        rc = append_stolen(parts, PyUnicode_Concat(inner, op->s1));
        break;
    case C_RAW: {
        PyObject *r = PyObject_CallMethodOneArg(w, s_raw, v);
        if (r == NULL)
            rc = -1;
        Py_XDECREF(r);
        break;
    }
    default: /* C_CHILD */
        rc = dispatch(pw, v, w, op->s1);
    }
    Py_DECREF(v);
    return rc;
}

/* ------------------------------------------------------------------------------------ write */

/* ">" + text + "</" + tag + ">\n" added to p when the element's Text field has a value: 1 when added,
 * 0 without a value, -1 on errors. */
static int text_close(PlanWriter *pw, Pieces *p, PyObject *d, PyObject *self, PyObject *tag) {
    PyObject *v = field_at(d, self, pw->text_name, pw->text_index);
    if (v == NULL)
        return -1;
    if (v == Py_None) {
        Py_DECREF(v);
        return 0;
    }
    if (pieces_add_borrowed(p, s_gt) < 0) {
        Py_DECREF(v);
        return -1;
    }
    PyObject *value = text_value(pw, v);
    Py_DECREF(v);
    if (pieces_add(p, value) < 0 || pieces_add_borrowed(p, s_ltslash) < 0 || pieces_add_borrowed(p, tag) < 0 ||
        pieces_add_borrowed(p, s_gtnl) < 0)
        return -1;
    return 1;
}

static PyObject *plan_write(PlanWriter *pw, PyObject *self, PyObject *w, PyObject *tag) {
    PyObject *d = NULL, *parts = NULL, *depth_obj = NULL, *result = NULL, *ind = NULL, *inner = NULL;
    Pieces p;
    pieces_init(&p);
    int truth = PyObject_IsTrue(tag);
    if (truth < 0)
        return NULL;
    tag = truth ? formatted(tag) : (Py_INCREF(pw->tag), pw->tag);
    if (tag == NULL)
        return NULL;
    d = PyObject_GenericGetDict(self, NULL);
    if (d == NULL)
        goto done;
    parts = PyObject_GetAttr(w, s_parts);
    if (parts == NULL)
        goto done;
    if (!PyList_Check(parts)) {
        PyErr_SetString(PyExc_TypeError, "the writer's parts must be a list");
        goto done;
    }
    depth_obj = PyObject_GetAttr(w, s_depth);
    if (depth_obj == NULL)
        goto done;
    long depth = PyLong_AsLong(depth_obj);
    if (depth == -1 && PyErr_Occurred())
        goto done;
    ind = indent(depth);
    if (ind == NULL)
        goto done;
    /* "<tag a": the indent, the tag and the attributes */
    if (pieces_add_borrowed(&p, ind) < 0 || pieces_add_borrowed(&p, s_lt) < 0 || pieces_add_borrowed(&p, tag) < 0)
        goto done;
    for (Py_ssize_t i = 0; i < pw->nattrs; i++) {
        Op *op = &pw->attrs[i];
        PyObject *v = field_at(d, self, op->name, op->index);
        if (v == NULL)
            goto done;
        if (v == Py_None) {
            Py_DECREF(v);
            continue;
        }
        if (op->kind == A_BOOL) {
            int t = PyObject_IsTrue(v);
            Py_DECREF(v);
            if (t < 0 || pieces_add_borrowed(&p, t ? op->s1 : op->s2) < 0)
                goto done;
            continue;
        }
        if (pieces_add_borrowed(&p, op->s1) < 0) {
            Py_DECREF(v);
            goto done;
        }
        PyObject *value = attr_value(pw, op, v);
        Py_DECREF(v);
        if (pieces_add(&p, value) < 0 || pieces_add_borrowed(&p, s_quote) < 0)
            goto done;
    }
    /* the namespace declarations */
    {
        int has = 1;
        if (pw->ns_instance) {
            has = PyDict_Contains(d, s_NSMAP);
            if (has < 0)
                goto done;
        }
        if (has) {
            PyObject *ns = PyObject_GetAttr(self, s_NSMAP);
            if (ns == NULL)
                goto done;
            int t = PyObject_IsTrue(ns);
            if (t > 0) {
                PyObject *s = PyObject_CallOneArg(pw->ns_fn, ns);
                Py_DECREF(ns);
                if (s == NULL || pieces_add(&p, s) < 0)
                    goto done;
            } else {
                Py_DECREF(ns);
                if (t < 0)
                    goto done;
            }
        }
    }
    if (pw->leaf) {
        if (pw->text_name != NULL) {
            int written = text_close(pw, &p, d, self, tag);
            if (written < 0)
                goto done;
            if (written) {
                if (append_stolen(parts, pieces_join(&p)) < 0)
                    goto done;
                goto ok;
            }
        }
        if (pieces_add_borrowed(&p, s_slashgtnl) < 0 || append_stolen(parts, pieces_join(&p)) < 0)
            goto done;
        goto ok;
    }
    if (append_stolen(parts, pieces_join(&p)) < 0)
        goto done;
    pieces_clear(&p);
    {
        PyObject *next = PyLong_FromLong(depth + 1);
        if (next == NULL)
            goto done;
        int rc = PyObject_SetAttr(w, s_depth, next);
        Py_DECREF(next);
        if (rc < 0)
            goto done;
    }
    Py_ssize_t mark = PyList_GET_SIZE(parts);
    inner = indent(depth + 1);
    if (inner == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < pw->nchildren; i++)
        if (write_child(pw, &pw->children[i], self, d, w, parts, inner) < 0)
            goto done;
    if (pw->hook != NULL) {
        PyObject *args[2] = {self, w};
        PyObject *r = PyObject_Vectorcall(pw->hook, args, 2, NULL);
        if (r == NULL)
            goto done;
        Py_DECREF(r);
    }
    if (PyObject_SetAttr(w, s_depth, depth_obj) < 0)
        goto done;
    if (PyList_GET_SIZE(parts) == mark) {
        if (pw->text_name != NULL) {
            int written = text_close(pw, &p, d, self, tag);
            if (written < 0)
                goto done;
            if (written) {
                if (part_extend(parts, -1, pieces_join(&p)) < 0)
                    goto done;
                goto ok;
            }
        }
        if (pw->never_self_close) {
            if (pieces_add_borrowed(&p, s_gtnl) < 0 || pieces_add_borrowed(&p, ind) < 0 ||
                pieces_add_borrowed(&p, s_ltslash) < 0 || pieces_add_borrowed(&p, tag) < 0 ||
                pieces_add_borrowed(&p, s_gtnl) < 0)
                goto done;
            /* ">\n" + IND + "</" + tag + ">\n" */
            if (part_extend(parts, -1, pieces_join(&p)) < 0)
                goto done;
        } else if (part_extend(parts, -1, (Py_INCREF(s_slashgtnl), s_slashgtnl)) < 0) {
            goto done;
        }
    } else {
        if (part_extend(parts, mark - 1, (Py_INCREF(s_gtnl), s_gtnl)) < 0)
            goto done;
        if (pieces_add_borrowed(&p, ind) < 0 || pieces_add_borrowed(&p, s_ltslash) < 0 ||
            pieces_add_borrowed(&p, tag) < 0 || pieces_add_borrowed(&p, s_gtnl) < 0 ||
            append_stolen(parts, pieces_join(&p)) < 0)
            goto done;
    }
ok:
    result = Py_None;
    Py_INCREF(result);
done:
    pieces_clear(&p);
    Py_XDECREF(inner);
    Py_XDECREF(ind);
    Py_XDECREF(depth_obj);
    Py_XDECREF(parts);
    Py_XDECREF(d);
    Py_DECREF(tag);
    return result;
}

static PyObject *plan_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    PlanWriter *pw = (PlanWriter *)callable;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *a[3] = {NULL, NULL, NULL};
    static const char *names[3] = {"self", "w", "tag"};
    if (nargs > 3) {
        PyErr_Format(PyExc_TypeError, "write() takes 3 positional arguments but %zd were given", nargs);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nargs; i++)
        a[i] = args[i];
    if (kwnames != NULL) {
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(kwnames); k++) {
            PyObject *key = PyTuple_GET_ITEM(kwnames, k);
            int found = 0;
            for (int j = 0; j < 3; j++) {
                if (PyUnicode_CompareWithASCIIString(key, names[j]) == 0) {
                    if (a[j] != NULL) {
                        PyErr_Format(PyExc_TypeError, "write() got multiple values for argument '%s'", names[j]);
                        return NULL;
                    }
                    a[j] = args[nargs + k];
                    found = 1;
                }
            }
            if (!found) {
                PyErr_Format(PyExc_TypeError, "write() got an unexpected keyword argument '%U'", key);
                return NULL;
            }
        }
    }
    for (int j = 0; j < 3; j++) {
        if (a[j] == NULL) {
            PyErr_Format(PyExc_TypeError, "write() of %U missing required argument: '%s' (%zd given)", pw->qualname,
                         names[j], nargs);
            return NULL;
        }
    }
    return plan_write(pw, a[0], a[1], a[2]);
}

/* ------------------------------------------------------------------------------------ the type */

static void ops_free(Op *ops, Py_ssize_t n) {
    if (ops == NULL)
        return;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_XDECREF(ops[i].name);
        Py_XDECREF(ops[i].s1);
        Py_XDECREF(ops[i].s2);
        Py_XDECREF(ops[i].fn);
        Py_XDECREF(ops[i].memo);
    }
    PyMem_Free(ops);
}

static int ops_traverse(Op *ops, Py_ssize_t n, visitproc visit, void *arg) {
    for (Py_ssize_t i = 0; ops != NULL && i < n; i++) {
        Py_VISIT(ops[i].fn);
        Py_VISIT(ops[i].memo);
    }
    return 0;
}

static int plan_traverse(PlanWriter *pw, visitproc visit, void *arg) {
    Py_VISIT(pw->ns_fn);
    Py_VISIT(pw->text_fmt);
    Py_VISIT(pw->hook);
    Py_VISIT(pw->wd);
    Py_VISIT(pw->esc_a);
    Py_VISIT(pw->esc_t);
    if (ops_traverse(pw->attrs, pw->nattrs, visit, arg) || ops_traverse(pw->children, pw->nchildren, visit, arg))
        return -1;
    return 0;
}

static int plan_clear(PlanWriter *pw) {
    Py_CLEAR(pw->tag);
    Py_CLEAR(pw->qualname);
    Py_CLEAR(pw->ns_fn);
    Py_CLEAR(pw->text_name);
    Py_CLEAR(pw->text_fmt);
    Py_CLEAR(pw->hook);
    Py_CLEAR(pw->wd);
    Py_CLEAR(pw->esc_a);
    Py_CLEAR(pw->esc_t);
    ops_free(pw->attrs, pw->nattrs);
    pw->attrs = NULL;
    pw->nattrs = 0;
    ops_free(pw->children, pw->nchildren);
    pw->children = NULL;
    pw->nchildren = 0;
    return 0;
}

static void plan_dealloc(PlanWriter *pw) {
    PyObject_GC_UnTrack(pw);
    plan_clear(pw);
    PyObject_GC_Del(pw);
}

static PyObject *plan_repr(PlanWriter *pw) {
    return PyUnicode_FromFormat("<native write of %U>", pw->qualname);
}

static PyTypeObject PlanWriterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "virt.conf._cwrite.PlanWriter",
    .tp_doc = "A model class's write(model, w, tag), run from its plan.",
    .tp_basicsize = sizeof(PlanWriter),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(PlanWriter, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_dealloc = (destructor)plan_dealloc,
    .tp_traverse = (traverseproc)plan_traverse,
    .tp_clear = (inquiry)plan_clear,
    .tp_repr = (reprfunc)plan_repr,
};

/* a tuple of op tuples (kind, name, s1, s2, fn, memo) -> a C array (None in a slot is NULL) */
static Op *ops_from(PyObject *seq, Py_ssize_t *n) {
    if (!PyTuple_Check(seq)) {
        PyErr_SetString(PyExc_TypeError, "ops must be a tuple");
        return NULL;
    }
    *n = PyTuple_GET_SIZE(seq);
    Op *ops = PyMem_Calloc(*n ? *n : 1, sizeof(Op));
    if (ops == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < *n; i++) {
        PyObject *t = PyTuple_GET_ITEM(seq, i);
        PyObject *name, *s1, *s2, *fn, *memo;
        if (!PyArg_ParseTuple(t, "iUOOOOn", &ops[i].kind, &name, &s1, &s2, &fn, &memo, &ops[i].index)) {
            ops_free(ops, *n);
            return NULL;
        }
        PyObject *slots[4] = {s1, s2, fn, memo};
        PyObject **dest[4] = {&ops[i].s1, &ops[i].s2, &ops[i].fn, &ops[i].memo};
        Py_INCREF(name);
        PyUnicode_InternInPlace(&name);
        ops[i].name = name;
        for (int j = 0; j < 4; j++) {
            if (slots[j] != Py_None) {
                Py_INCREF(slots[j]);
                *dest[j] = slots[j];
            }
        }
        if ((ops[i].s1 != NULL && !PyUnicode_CheckExact(ops[i].s1)) ||
            (ops[i].s2 != NULL && !PyUnicode_CheckExact(ops[i].s2))) {
            ops_free(ops, *n);
            PyErr_SetString(PyExc_TypeError, "an op's strings must be str");
            return NULL;
        }
    }
    return ops;
}

static PyObject *make(PyObject *module, PyObject *args) {
    PyObject *tag, *qualname, *attrs, *ns_fn, *text_name, *text_fmt, *children, *hook, *wd, *esc_a, *esc_t;
    int ns_instance, leaf, never_self_close;
    Py_ssize_t text_index;
    if (!PyArg_ParseTuple(args, "UUOpOpOnOOOpO!OO:make", &tag, &qualname, &attrs, &ns_instance, &ns_fn, &leaf,
                          &text_name, &text_index, &text_fmt, &children, &hook, &never_self_close, &PyDict_Type,
                          &wd, &esc_a, &esc_t))
        return NULL;
    if (text_name != Py_None && !PyUnicode_Check(text_name)) {
        PyErr_SetString(PyExc_TypeError, "text_name must be str or None");
        return NULL;
    }
    PlanWriter *pw = PyObject_GC_New(PlanWriter, &PlanWriterType);
    if (pw == NULL)
        return NULL;
    pw->vectorcall = plan_vectorcall;
    pw->attrs = pw->children = NULL;
    pw->nattrs = pw->nchildren = 0;
#define KEEP(field, value) (Py_INCREF(value), pw->field = (value))
#define KEEP_OPT(field, value) (pw->field = (value) == Py_None ? NULL : (Py_INCREF(value), (value)))
    KEEP(tag, tag);
    KEEP(qualname, qualname);
    KEEP(ns_fn, ns_fn);
    KEEP_OPT(text_name, text_name);
    KEEP_OPT(text_fmt, text_fmt);
    KEEP_OPT(hook, hook);
    KEEP(wd, wd);
    KEEP(esc_a, esc_a);
    KEEP(esc_t, esc_t);
    pw->ns_instance = ns_instance;
    pw->text_index = text_index;
    pw->leaf = leaf;
    pw->never_self_close = never_self_close;
    if (pw->text_name != NULL)
        PyUnicode_InternInPlace(&pw->text_name);
    pw->attrs = ops_from(attrs, &pw->nattrs);
    if (pw->attrs == NULL) {
        pw->nattrs = 0;
        Py_DECREF(pw);
        return NULL;
    }
    pw->children = ops_from(children, &pw->nchildren);
    if (pw->children == NULL) {
        pw->nchildren = 0;
        Py_DECREF(pw);
        return NULL;
    }
    PyObject_GC_Track(pw);
    return (PyObject *)pw;
}

/* xmlmodel.write_models bound to a dispatch dict (``self``): write(model, w, tag) for each model */
static PyObject *write_models(PyObject *wd, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 2 || nargs > 3) {
        PyErr_Format(PyExc_TypeError, "write_models() takes 2 or 3 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *models = args[0], *w = args[1], *tag = nargs == 3 ? args[2] : Py_None;
    if (PyList_CheckExact(models)) {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(models); i++) {
            PyObject *item = PyList_GET_ITEM(models, i);
            Py_INCREF(item);
            int rc = dispatch_in(wd, item, w, tag);
            Py_DECREF(item);
            if (rc < 0)
                return NULL;
        }
        Py_RETURN_NONE;
    }
    PyObject *it = PyObject_GetIter(models);
    if (it == NULL)
        return NULL;
    PyObject *item;
    while ((item = PyIter_Next(it)) != NULL) {
        int rc = dispatch_in(wd, item, w, tag);
        Py_DECREF(item);
        if (rc < 0) {
            Py_DECREF(it);
            return NULL;
        }
    }
    Py_DECREF(it);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef write_models_def = {
    "write_models", (PyCFunction)(void (*)(void))write_models, METH_FASTCALL,
    "write_models(models, w, tag=None): each model written by its class's write function (the dispatch)."};

static PyObject *models_writer(PyObject *module, PyObject *wd) {
    if (!PyDict_Check(wd)) {
        PyErr_SetString(PyExc_TypeError, "models_writer() takes the dispatch dict");
        return NULL;
    }
    return PyCFunction_New(&write_models_def, wd);
}

static PyObject *escape_py(PyObject *module, PyObject *args) {
    PyObject *s;
    int text = 0;
    if (!PyArg_ParseTuple(args, "U|p:escape", &s, &text))
        return NULL;
    if (!PyUnicode_CheckExact(s)) {
        PyErr_SetString(PyExc_TypeError, "escape() takes an exact str");
        return NULL;
    }
    return escape(s, text ? 2 : 1);
}

static PyMethodDef methods[] = {
    {"make", make, METH_VARARGS,
     "make(tag, qualname, attrs, ns_instance, ns_fn, leaf, text_name, text_index, text_fmt, children, hook, "
     "never_self_close, wd, esc_a, esc_t): a class's write function from its plan."},
    {"models_writer", models_writer, METH_O, "models_writer(wd): write_models(models, w, tag=None) over dispatch wd."},
    {"escape", escape_py, METH_VARARGS, "escape(s, text=False): s escaped as escape_attr (or escape_text) does."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "virt.conf._cwrite", NULL, -1, methods};

#define CONST(var, text) \
    if ((var = PyUnicode_InternFromString(text)) == NULL) \
        return NULL

PyMODINIT_FUNC PyInit__cwrite(void) {
    special['&'] = special['<'] = special['>'] = 3;
    special['"'] = special['\''] = 1;
    CONST(s_parts, "parts");
    CONST(s_depth, "depth");
    CONST(s_raw, "raw");
    CONST(s_NSMAP, "NSMAP");
    CONST(s_quote, "'");
    CONST(s_lt, "<");
    CONST(s_gt, ">");
    CONST(s_ltslash, "</");
    CONST(s_gtnl, ">\n");
    CONST(s_slashgtnl, "/>\n");
    if (PyType_Ready(&PlanWriterType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&PlanWriterType);
    if (PyModule_AddObject(m, "PlanWriter", (PyObject *)&PlanWriterType) < 0) {
        Py_DECREF(&PlanWriterType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
