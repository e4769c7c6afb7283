/* virt.conf._cparse: the XML engine's parse plans in C (built from virt/conf/_parseplan.py).
 *
 * A Plan does what the generated Python parse function of one model class does (the pure twin,
 * virt.conf.xmlmodel.generate_parser), step for step, reading the libxml2 nodes under lxml's
 * elements directly. lxml elements are made (with lxml's public elementFactory) only where Python
 * code receives one. Values and errors go through the same Python objects and helpers as the twin.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <libxml/tree.h>
#include <stdint.h>
#include <string.h>

/* The head of lxml's _Element (lxml/etree.h: struct LxmlElement), the same in every lxml since 2.0. */
typedef struct {
    PyObject_HEAD
    PyObject *doc;
    xmlNode *node;
    PyObject *tag;
} Element;

/* lxml's public C functions (from lxml.etree.__pyx_capi__). */
static PyObject *(*element_factory)(PyObject *doc, xmlNode *node);
static PyObject *(*text_of)(xmlNode *node);
static PyObject *(*attribute_value)(xmlNode *node, xmlAttr *attr);

/* The Python helpers of the generated code (set by configure()). */
static PyObject *bad_attr, *unknown_attr, *bad_text, *bad_value, *unknown_child, *missing, *resolve;
static PyTypeObject *element_type;
static PyObject *str_values, *str_empty, *str_hooks, *str_strip, *str_append, *empty_str, *empty_args;

enum { V_STR, V_ENUM, V_BOOL, V_MEMO, V_CALL };
enum { C_MODEL, C_LIST, C_TEXT_STR, C_TEXT_CONV, C_FLAG, C_RAW };

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *spec;   /* the tuple from _parseplan.native_parser; the pointers below borrow from it */
    PyObject *cls, *defaults, *lists, *others, *parse_extra, *nothing, *attrs, *text, *children,
        *required, *post_parse, *validate;
} Plan;

static PyTypeObject PlanType;

/* A class whose from_element picks the parser of a subclass by an attribute (<address type=...>). */
typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *attr;     /* the attribute's name (bytes, UTF-8) */
    PyObject *table;    /* value -> parser (a dict the fallback fills) */
    PyObject *fallback; /* the class's from_element: unknown or missing values, and the first of each */
} Choice;

static PyTypeObject ChoiceType;

static PyObject *
none_to_null(PyObject *o)
{
    return o == Py_None ? NULL : o;
}

/* Short ASCII strings seen before (names, common values), by a hash of their bytes: the same str
 * object comes back, its own hash already computed, instead of a new one to decode and hash again. */
#define CACHE_SLOTS 4096
#define CACHE_LONGEST 48
static PyObject *cache[CACHE_SLOTS];

static PyObject *
text_str(const char *s)
{
    uint32_t h = 2166136261u;
    size_t n = 0;
    for (const unsigned char *c = (const unsigned char *)s; *c != 0; c++, n++) {
        if (n == CACHE_LONGEST)
            return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), NULL);
        h = (h ^ *c) * 16777619u;
    }
    PyObject **slot = &cache[h & (CACHE_SLOTS - 1)];
    PyObject *u = *slot;
    if (u != NULL && (size_t)PyUnicode_GET_LENGTH(u) == n && memcmp(PyUnicode_DATA(u), s, n) == 0)
        return Py_NewRef(u);
    u = PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, NULL);
    if (u != NULL && PyUnicode_IS_ASCII(u))
        Py_XSETREF(*slot, Py_NewRef(u));
    return u;
}

/* "{href}name" or "name", as lxml names tags and attributes. */
static PyObject *
qualified_name(const xmlNs *ns, const xmlChar *name)
{
    if (ns != NULL && ns->href != NULL)
        return PyUnicode_FromFormat("{%s}%s", (const char *)ns->href, (const char *)name);
    return text_str((const char *)name);
}

static PyObject *
attr_text(xmlNode *node, xmlAttr *attr)
{
    xmlNode *c = attr->children;
    if (c == NULL)
        return PyUnicode_FromStringAndSize("", 0);
    if (c->next == NULL && c->type == XML_TEXT_NODE && c->content != NULL)
        return text_str((const char *)c->content);
    return attribute_value(node, attr); /* entity references: lxml's own reading */
}

/* The element object of a node: the one given, or one made now (kept in *made for the caller to release). */
static PyObject *
element_of(PyObject **el, PyObject **made, PyObject *doc, xmlNode *node)
{
    if (*el == NULL) {
        *made = element_factory(doc, node);
        *el = *made;
    }
    return *el;
}

/* Call a helper that raises; NULL (with its exception) or a normal return, which the caller ignores. */
static int
call_helper(PyObject *fn, PyObject *const *args, size_t n)
{
    PyObject *r = PyObject_Vectorcall(fn, args, n, NULL);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* vtype.parse(text) as the generated code does it. Returns a new reference; NULL with *rejected = 1 when
 * the text is rejected (ValueError/OverflowError, cleared), NULL with *rejected = 0 on other errors. */
static PyObject *
convert(long kind, PyObject *data, PyObject *text, int *rejected)
{
    *rejected = 0;
    switch (kind) {
    case V_STR:
        Py_INCREF(text);
        return text;
    case V_ENUM: {
        PyObject *values = PyObject_GetAttr(data, str_values);
        if (values == NULL)
            return NULL;
        int found = PySequence_Contains(values, text);
        Py_DECREF(values);
        if (found < 0)
            return NULL;
        if (!found) {
            *rejected = 1;
            return NULL;
        }
        Py_INCREF(text);
        return text;
    }
    case V_BOOL: {
        int eq = PyUnicode_Compare(text, PyTuple_GET_ITEM(data, 0));
        if (eq == 0)
            Py_RETURN_TRUE;
        eq = PyUnicode_Compare(text, PyTuple_GET_ITEM(data, 1));
        if (eq == 0)
            Py_RETURN_FALSE;
        if (PyErr_Occurred())
            return NULL;
        *rejected = 1;
        return NULL;
    }
    default: {
        PyObject *v = kind == V_MEMO ? PyObject_GetItem(data, text) : PyObject_CallOneArg(data, text);
        if (v == NULL && (PyErr_ExceptionMatches(PyExc_ValueError) || PyErr_ExceptionMatches(PyExc_OverflowError))) {
            PyErr_Clear();
            *rejected = 1;
        }
        return v;
    }
    }
}

/* text.strip() when text is a non-empty str, else NULL without an error (no value: the twin's
 * ``if own and (own := own.strip())``). Errors: NULL with an exception set. */
static PyObject *
stripped(PyObject *text)
{
    if (text == NULL || text == Py_None || !PyUnicode_Check(text) || PyUnicode_GET_LENGTH(text) == 0)
        return NULL;
    PyObject *s = PyObject_CallMethodNoArgs(text, str_strip);
    if (s != NULL && PyUnicode_GET_LENGTH(s) == 0) {
        Py_DECREF(s);
        return NULL;
    }
    return s;
}

static PyObject *run(Plan *p, PyObject *el, PyObject *doc, xmlNode *node, PyObject *ctx);

static PyObject *
run_choice(Choice *ch, PyObject *el, PyObject *doc, xmlNode *node, PyObject *ctx)
{
    const char *want = PyBytes_AS_STRING(ch->attr);
    for (xmlAttr *a = node->properties; a != NULL; a = a->next) {
        if (a->ns != NULL || strcmp((const char *)a->name, want) != 0)
            continue;
        PyObject *value = attr_text(node, a);
        if (value == NULL)
            return NULL;
        PyObject *parser = PyDict_GetItemWithError(ch->table, value);
        Py_DECREF(value);
        if (parser == NULL && PyErr_Occurred())
            return NULL;
        if (parser != NULL && Py_IS_TYPE(parser, &PlanType))
            return run((Plan *)parser, el, doc, node, ctx);
        break;
    }
    PyObject *made = NULL;
    if (el == NULL) {
        el = made = element_factory(doc, node);
        if (el == NULL)
            return NULL;
    }
    PyObject *args[2] = {el, ctx};
    PyObject *v = PyObject_Vectorcall(ch->fallback, args, 2, NULL);
    Py_XDECREF(made);
    return v;
}

/* Parse one child element with its model's parser (resolved on first use, as the twin's lazy parsers). */
static PyObject *
parse_child(PyObject *entry, PyObject *doc, xmlNode *child, PyObject *ctx)
{
    PyObject *target = PyList_GET_ITEM(entry, 2);
    if (PyType_Check(target)) {
        PyObject *resolved = PyObject_CallOneArg(resolve, target);
        if (resolved == NULL)
            return NULL;
        PyList_SET_ITEM(entry, 2, resolved); /* steals; the class reference goes */
        Py_DECREF(target);
        target = resolved;
    }
    if (Py_IS_TYPE(target, &PlanType))
        return run((Plan *)target, NULL, doc, child, ctx);
    if (Py_IS_TYPE(target, &ChoiceType))
        return run_choice((Choice *)target, NULL, doc, child, ctx);
    PyObject *child_el = element_factory(doc, child);
    if (child_el == NULL)
        return NULL;
    PyObject *args[2] = {child_el, ctx};
    PyObject *v = PyObject_Vectorcall(target, args, 2, NULL);
    Py_DECREF(child_el);
    return v;
}

static int
set_field(PyObject *d, PyObject *name, PyObject *value)
{
    if (value == NULL)
        return -1;
    int r = PyDict_SetItem(d, name, value);
    Py_DECREF(value);
    return r;
}

static PyObject *
run(Plan *p, PyObject *el, PyObject *doc, xmlNode *node, PyObject *ctx)
{
    PyObject *made = NULL, *self = NULL, *d = NULL, *consumed = NULL;
    PyObject *key = NULL, *text = NULL, *v;
    Py_ssize_t i, n;
    int rejected;

    /* cls.__new__(cls), through the type's slot: no argument parsing */
    self = ((PyTypeObject *)p->cls)->tp_new((PyTypeObject *)p->cls, empty_args, NULL);
    if (self == NULL)
        goto error;
    d = PyObject_GenericGetDict(self, NULL);
    if (d == NULL)
        goto error;
    if (p->defaults != NULL && PyDict_Update(d, p->defaults) < 0)
        goto error;
    n = PyTuple_GET_SIZE(p->lists);
    for (i = 0; i < n; i++)
        if (set_field(d, PyTuple_GET_ITEM(p->lists, i), PyList_New(0)) < 0)
            goto error;
    n = PyTuple_GET_SIZE(p->others);
    for (i = 0; i < n; i++) {
        PyObject *pair = PyTuple_GET_ITEM(p->others, i);
        if (set_field(d, PyTuple_GET_ITEM(pair, 0), PyObject_CallMethodNoArgs(PyTuple_GET_ITEM(pair, 1), str_empty)) < 0)
            goto error;
    }
    if (p->parse_extra != NULL) {
        if (element_of(&el, &made, doc, node) == NULL)
            goto error;
        PyObject *args[3] = {self, el, ctx};
        consumed = PyObject_Vectorcall(p->parse_extra, args, 3, NULL);
        if (consumed == NULL)
            goto error;
    } else {
        consumed = Py_NewRef(p->nothing);
    }

    /* attributes, in document order */
    for (xmlAttr *a = node->properties; a != NULL; a = a->next) {
        key = qualified_name(a->ns, a->name);
        if (key == NULL)
            goto error;
        text = attr_text(node, a);
        if (text == NULL)
            goto error;
        PyObject *entry = PyDict_GetItemWithError(p->attrs, key);
        if (entry == NULL) {
            if (PyErr_Occurred() || element_of(&el, &made, doc, node) == NULL)
                goto error;
            PyObject *args[4] = {ctx, key, el, consumed};
            if (call_helper(unknown_attr, args, 4) < 0)
                goto error;
        } else {
            v = convert(PyLong_AsLong(PyTuple_GET_ITEM(entry, 1)), PyTuple_GET_ITEM(entry, 2), text, &rejected);
            if (v != NULL) {
                if (set_field(d, PyTuple_GET_ITEM(entry, 0), v) < 0)
                    goto error;
            } else if (!rejected) {
                goto error;
            } else {
                if (element_of(&el, &made, doc, node) == NULL)
                    goto error;
                PyObject *args[4] = {PyTuple_GET_ITEM(entry, 3), key, text, el};
                if (call_helper(bad_attr, args, 4) < 0)
                    goto error;
            }
        }
        Py_CLEAR(key);
        Py_CLEAR(text);
    }

    /* the element's own text */
    if (p->text != NULL) {
        PyObject *own = text_of(node);
        if (own == NULL)
            goto error;
        text = stripped(own);
        Py_DECREF(own);
        if (text == NULL && PyErr_Occurred())
            goto error;
        if (text != NULL) {
            v = convert(PyLong_AsLong(PyTuple_GET_ITEM(p->text, 1)), PyTuple_GET_ITEM(p->text, 2), text, &rejected);
            if (v != NULL) {
                if (set_field(d, PyTuple_GET_ITEM(p->text, 0), v) < 0)
                    goto error;
            } else if (!rejected) {
                goto error;
            } else {
                if (element_of(&el, &made, doc, node) == NULL)
                    goto error;
                PyObject *args[3] = {PyTuple_GET_ITEM(p->text, 3), text, el};
                if (call_helper(bad_text, args, 3) < 0)
                    goto error;
            }
            Py_CLEAR(text);
        }
    }

    /* children, in document order (comments, processing instructions and entities are not looked at) */
    for (xmlNode *c = node->children; c != NULL; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        key = qualified_name(c->ns, c->name);
        if (key == NULL)
            goto error;
        PyObject *entry = PyDict_GetItemWithError(p->children, key);
        if (entry == NULL) {
            if (PyErr_Occurred() || element_of(&el, &made, doc, node) == NULL)
                goto error;
            PyObject *child_el = element_factory(doc, c);
            if (child_el == NULL)
                goto error;
            PyObject *args[4] = {ctx, child_el, el, consumed};
            int r = call_helper(unknown_child, args, 4);
            Py_DECREF(child_el);
            if (r < 0)
                goto error;
            Py_CLEAR(key);
            continue;
        }
        PyObject *name = PyList_GET_ITEM(entry, 1);
        switch (PyLong_AsLong(PyList_GET_ITEM(entry, 0))) {
        case C_MODEL:
            if (set_field(d, name, parse_child(entry, doc, c, ctx)) < 0)
                goto error;
            break;
        case C_LIST: {
            PyObject *list = PyDict_GetItemWithError(d, name);
            if (list == NULL) {
                if (!PyErr_Occurred())
                    PyErr_SetObject(PyExc_KeyError, name);
                goto error;
            }
            Py_INCREF(list);
            v = parse_child(entry, doc, c, ctx);
            int r = -1;
            if (v != NULL) {
                if (PyList_CheckExact(list)) {
                    r = PyList_Append(list, v);
                } else {
                    PyObject *ret = PyObject_CallMethodOneArg(list, str_append, v);
                    r = ret == NULL ? -1 : 0;
                    Py_XDECREF(ret);
                }
                Py_DECREF(v);
            }
            Py_DECREF(list);
            if (r < 0)
                goto error;
            break;
        }
        case C_TEXT_STR: {
            PyObject *t = text_of(c);
            if (t == NULL)
                goto error;
            if (t == Py_None || !PyObject_IsTrue(t)) {
                Py_DECREF(t);
                t = Py_NewRef(empty_str);
            }
            if (set_field(d, name, t) < 0)
                goto error;
            break;
        }
        case C_TEXT_CONV: {
            PyObject *t = text_of(c);
            if (t == NULL)
                goto error;
            text = stripped(t);
            Py_DECREF(t);
            if (text == NULL) {
                if (PyErr_Occurred())
                    goto error;
                if (PyDict_SetItem(d, name, Py_None) < 0)
                    goto error;
                break;
            }
            v = convert(PyLong_AsLong(PyList_GET_ITEM(entry, 3)), PyList_GET_ITEM(entry, 4), text, &rejected);
            if (v != NULL) {
                if (set_field(d, name, v) < 0)
                    goto error;
            } else if (!rejected) {
                goto error;
            } else {
                PyObject *child_el = element_factory(doc, c);
                if (child_el == NULL)
                    goto error;
                PyObject *args[4] = {PyList_GET_ITEM(entry, 5), text, PyList_GET_ITEM(entry, 6), child_el};
                int r = call_helper(bad_value, args, 4);
                Py_DECREF(child_el);
                if (r < 0)
                    goto error;
            }
            Py_CLEAR(text);
            break;
        }
        case C_FLAG:
            if (PyDict_SetItem(d, name, Py_True) < 0)
                goto error;
            break;
        case C_RAW:
            if (set_field(d, name, element_factory(doc, c)) < 0)
                goto error;
            break;
        default:
            PyErr_SetString(PyExc_SystemError, "bad child entry in a parse plan");
            goto error;
        }
        Py_CLEAR(key);
    }

    /* required fields */
    n = PyTuple_GET_SIZE(p->required);
    for (i = 0; i < n; i++) {
        PyObject *pair = PyTuple_GET_ITEM(p->required, i);
        v = PyDict_GetItemWithError(d, PyTuple_GET_ITEM(pair, 0));
        if (v == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetObject(PyExc_KeyError, PyTuple_GET_ITEM(pair, 0));
            goto error;
        }
        if (v == Py_None || (PyList_Check(v) && PyList_GET_SIZE(v) == 0)) {
            if (element_of(&el, &made, doc, node) == NULL)
                goto error;
            PyObject *args[2] = {PyTuple_GET_ITEM(pair, 1), el};
            if (call_helper(missing, args, 2) < 0)
                goto error;
        }
    }

    /* hooks */
    if (p->post_parse != NULL) {
        PyObject *args[2] = {self, ctx};
        if (call_helper(p->post_parse, args, 2) < 0)
            goto error;
    }
    PyObject *hooks = PyObject_GetAttr(ctx, str_hooks);
    if (hooks == NULL)
        goto error;
    int any = PyObject_IsTrue(hooks);
    if (any < 0) {
        Py_DECREF(hooks);
        goto error;
    }
    if (any) {
        PyObject *it = PyObject_GetIter(hooks), *hook;
        Py_DECREF(hooks);
        if (it == NULL)
            goto error;
        while ((hook = PyIter_Next(it)) != NULL) {
            PyObject *args[2] = {self, ctx};
            int r = call_helper(hook, args, 2);
            Py_DECREF(hook);
            if (r < 0) {
                Py_DECREF(it);
                goto error;
            }
        }
        Py_DECREF(it);
        if (PyErr_Occurred())
            goto error;
    } else {
        Py_DECREF(hooks);
    }
    if (p->validate != NULL) {
        PyObject *args[2] = {self, ctx};
        if (call_helper(p->validate, args, 2) < 0)
            goto error;
    }
    Py_DECREF(d);
    Py_DECREF(consumed);
    Py_XDECREF(made);
    return self;

error:
    Py_XDECREF(key);
    Py_XDECREF(text);
    Py_XDECREF(d);
    Py_XDECREF(consumed);
    Py_XDECREF(self);
    Py_XDECREF(made);
    return NULL;
}

/* The element of a call (el, ctx) to a plan or a choice; NULL with a TypeError for anything else. */
static Element *
element_arg(PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    if (PyVectorcall_NARGS(nargsf) != 2 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0)) {
        PyErr_SetString(PyExc_TypeError, "a parse plan takes (el, ctx)");
        return NULL;
    }
    if (element_type == NULL || !PyObject_TypeCheck(args[0], element_type)) {
        PyErr_SetString(PyExc_TypeError, "a parse plan reads an lxml element");
        return NULL;
    }
    return (Element *)args[0];
}

static PyObject *
plan_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Element *el = element_arg(args, nargsf, kwnames);
    return el == NULL ? NULL : run((Plan *)callable, args[0], el->doc, el->node, args[1]);
}

static int
plan_init(Plan *self, PyObject *args, PyObject *kwds)
{
    PyObject *spec;
    if (!PyArg_ParseTuple(args, "O!:Plan", &PyTuple_Type, &spec))
        return -1;
    if (PyTuple_GET_SIZE(spec) != 12) {
        PyErr_SetString(PyExc_ValueError, "a parse plan's spec has 12 items");
        return -1;
    }
    Py_XSETREF(self->spec, Py_NewRef(spec));
    PyObject **item = &PyTuple_GET_ITEM(spec, 0);
    self->cls = item[0];
    self->defaults = none_to_null(item[1]);
    self->lists = item[2];
    self->others = item[3];
    self->parse_extra = none_to_null(item[4]);
    self->nothing = item[5];
    self->attrs = item[6];
    self->text = none_to_null(item[7]);
    self->children = item[8];
    self->required = item[9];
    self->post_parse = none_to_null(item[10]);
    self->validate = none_to_null(item[11]);
    if (!PyType_Check(self->cls) || !PyTuple_Check(self->lists) || !PyTuple_Check(self->others) || !PyDict_Check(self->attrs)
        || !PyDict_Check(self->children) || !PyTuple_Check(self->required)
        || (self->defaults != NULL && !PyDict_Check(self->defaults))) {
        PyErr_SetString(PyExc_TypeError, "malformed parse plan spec");
        Py_CLEAR(self->spec);
        return -1;
    }
    self->vectorcall = plan_vectorcall;
    return 0;
}

static void
plan_dealloc(Plan *self)
{
    Py_XDECREF(self->spec);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
plan_repr(Plan *self)
{
    if (self->spec == NULL)
        return PyUnicode_FromString("<parse plan (empty)>");
    return PyUnicode_FromFormat("<parse plan of %R>", self->cls);
}

static PyTypeObject PlanType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "virt.conf._cparse.Plan",
    .tp_doc = "Plan(spec): the native parse function of one model class; call it as plan(el, ctx).",
    .tp_basicsize = sizeof(Plan),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)plan_init,
    .tp_dealloc = (destructor)plan_dealloc,
    .tp_repr = (reprfunc)plan_repr,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(Plan, vectorcall),
};

static PyObject *
choice_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Element *el = element_arg(args, nargsf, kwnames);
    return el == NULL ? NULL : run_choice((Choice *)callable, args[0], el->doc, el->node, args[1]);
}

static int
choice_init(Choice *self, PyObject *args, PyObject *kwds)
{
    PyObject *attr, *table, *fallback;
    if (!PyArg_ParseTuple(args, "UO!O:Choice", &attr, &PyDict_Type, &table, &fallback))
        return -1;
    if (!PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "a parser choice's fallback must be callable");
        return -1;
    }
    PyObject *name = PyUnicode_AsUTF8String(attr);
    if (name == NULL)
        return -1;
    Py_XSETREF(self->attr, name);
    Py_XSETREF(self->table, Py_NewRef(table));
    Py_XSETREF(self->fallback, Py_NewRef(fallback));
    self->vectorcall = choice_vectorcall;
    return 0;
}

static void
choice_dealloc(Choice *self)
{
    Py_XDECREF(self->attr);
    Py_XDECREF(self->table);
    Py_XDECREF(self->fallback);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject ChoiceType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "virt.conf._cparse.Choice",
    .tp_doc = "Choice(attr, table, fallback): parse with table[el.get(attr)] when it is a plan, else "
              "fallback(el, ctx); call it as choice(el, ctx).",
    .tp_basicsize = sizeof(Choice),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)choice_init,
    .tp_dealloc = (destructor)choice_dealloc,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(Choice, vectorcall),
};

static void *
lxml_function(PyObject *capi, const char *name)
{
    PyObject *capsule = PyDict_GetItemString(capi, name);
    if (capsule == NULL || !PyCapsule_CheckExact(capsule)) {
        PyErr_Format(PyExc_ImportError, "lxml.etree has no C function %s", name);
        return NULL;
    }
    return PyCapsule_GetPointer(capsule, PyCapsule_GetName(capsule));
}

static PyObject *
configure(PyObject *module, PyObject *args)
{
    PyObject *etype, *etree;
    PyObject *fns[7];
    if (!PyArg_ParseTuple(args, "OOOOOOOO!O:configure", &fns[0], &fns[1], &fns[2], &fns[3], &fns[4], &fns[5],
                          &fns[6], &PyType_Type, &etype, &etree))
        return NULL;
    PyObject *capi = PyObject_GetAttrString(etree, "__pyx_capi__");
    if (capi == NULL)
        return NULL;
    if (!PyDict_Check(capi)) {
        Py_DECREF(capi);
        PyErr_SetString(PyExc_ImportError, "lxml.etree.__pyx_capi__ is not a dict");
        return NULL;
    }
    element_factory = lxml_function(capi, "elementFactory");
    text_of = lxml_function(capi, "textOf");
    attribute_value = lxml_function(capi, "attributeValue");
    Py_DECREF(capi);
    if (element_factory == NULL || text_of == NULL || attribute_value == NULL)
        return NULL;
    PyObject **slots[7] = {&bad_attr, &unknown_attr, &bad_text, &bad_value, &unknown_child, &missing, &resolve};
    for (int i = 0; i < 7; i++)
        Py_XSETREF(*slots[i], Py_NewRef(fns[i]));
    Py_XSETREF(element_type, (PyTypeObject *)Py_NewRef(etype));
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(bad_attr, unknown_attr, bad_text, bad_value, unknown_child, missing, resolve, element_type, "
     "lxml_etree): the Python helpers plans call, and lxml's C functions"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "virt.conf._cparse",
                                    "The XML engine's parse plans in C.", -1, methods};

PyMODINIT_FUNC
PyInit__cparse(void)
{
    if (PyType_Ready(&PlanType) < 0 || PyType_Ready(&ChoiceType) < 0)
        return NULL;
    str_values = PyUnicode_InternFromString("values");
    str_empty = PyUnicode_InternFromString("empty");
    str_hooks = PyUnicode_InternFromString("hooks");
    str_strip = PyUnicode_InternFromString("strip");
    str_append = PyUnicode_InternFromString("append");
    empty_str = PyUnicode_FromStringAndSize("", 0);
    empty_args = PyTuple_New(0);
    if (!empty_args || !str_values || !str_empty || !str_hooks || !str_strip || !str_append || !empty_str)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Plan", (PyObject *)&PlanType) < 0
        || PyModule_AddObjectRef(m, "Choice", (PyObject *)&ChoiceType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
