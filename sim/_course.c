/* sim._course: the compiled kernel of sim.dose_modification.run_course.
 *
 * It computes what run_course_python (the reference, in sim/dose_modification.py) computes, and
 * decides eventful cycles as ModificationPolicy.decide does, step by step: the same loop over runs
 * of uneventful cycles, the same periods recorded at the same points, and the same floating-point
 * operations in the same order, so that every field of the Course it returns is == to the
 * reference's. (Build flags: -ffp-contract=off, no -ffast-math, so no FMA fusion or reassociation;
 * math.log1p and float ** float are libm's log1p and pow, as here.) Uneventful cycles past the
 * model's cycle factors are graded by each AE's smallest uniform, as the reference grades them,
 * though per run where the reference keeps one minimum per levels for the whole course: the grade
 * falls as the uniform rises, so the highest grades are the same integers.
 * tests/test_course_kernel.py compares the two on generated policies and inputs, and the bundled
 * scenarios' runs with either.
 *
 * A Kernel is built once per ModificationPolicy (ModificationPolicy.kernel) from the policy's
 * tables; Kernel.run(start_state, uniforms, rows_kept, start_day, end_day, cycle_days) treats one
 * patient. Kernel.summary(start_state, uniforms, start_day, end_day, cycle_days, drug, doses)
 * treats them alike but returns only what their record reads (sim.dose_modification
 * .course_summary: cycle starts, highest grades, held, reduced, one drug's RDI), without making
 * the Course's periods and records of decisions: the engine's way unless it traces. `uniforms` is read through the buffer protocol (a 2-D C-contiguous float64 array, the
 * engine's); anything else gives NotImplemented, and run_course converts it. Course, DoseState,
 * Decision and DosePeriod are named tuples: built here as tuples of their class, as
 * tuple.__new__ would build them (calling the classes took twice as long a course).
 *
 * The module's other functions: exposure() reads a Course for a patient's record as
 * Course.held, Course.reduced and relative_dose_intensity read it (sim.dose_modification
 * .course_exposure; compared with them in the same tests); pcg64_fill() writes numpy's PCG64
 * doubles from any position of a stream, the AE uniforms the engine hands out
 * (_TrialRun.ae_rows; compared with numpy's in tests/test_rng.py), and pcg64_seed_stream() the
 * stream a SeedSequence seeds (sim.rng.spawned_uniform_stream; compared with numpy's there).
 *
 * Plain CPython C API: no numpy headers, no other dependency.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define GRADES 4
#define DAY_TOLERANCE 1e-9 /* sim.dose_modification._DAY_TOLERANCE, in cycles */

/* Rule actions (ModificationRule.action) and DrugAction members, as the policy passes them. */
enum { RULE_HOLD = 0, RULE_REDUCE = 1, RULE_DISCONTINUE = 2 };
enum { A_CONTINUE = 0, A_REDUCE, A_HOLD, A_DISCONTINUE, A_OFF, N_ACTIONS };

typedef struct {
    PyObject_HEAD
    PyObject *args; /* the constructor's arguments: they own the objects below; pickling */
    int n_ae, n_drugs, n_rules, cycle_rows, width, n_columns;
    int *drug_of_ae;             /* [a] */
    unsigned char *daily;        /* [d] schedule "daily" (else "day1") */
    unsigned char *required;     /* [d] */
    long long *reductions_allowed; /* [d] */
    double *max_hold;            /* [d] max_hold_days as a float, for comparisons */
    PyObject **max_hold_obj;     /* [d] max_hold_days itself: a capped hold is this object */
    int *rule_action;            /* [r] */
    double *rule_scale;          /* [r] RecoveryTime._scale (hold rules) */
    double *rule_inverse_shape;  /* [r] RecoveryTime._inverse_shape */
    long long *rule_reduce_from; /* [r] reduce_from_occurrence, -1: None */
    int *rule_for;               /* [(d * n_ae + a) * 5 + grade]: ModificationPolicy._rule_for */
    double *tails;               /* [((a * width + level + 1) * cycle_rows + row) * 4 + g - 1] */
    double *quiet;               /* [(a * width + level + 1) * cycle_rows + row]: quiet_thresholds */
    PyTypeObject *DoseState, *Decision, *DosePeriod, *Course, *CourseSummary;
    PyObject *actions[N_ACTIONS];
} Kernel;

/* A period of one drug: days [start, end) at `level` (-1: held). */
typedef struct {
    double start, end;
    int level;
} Period;

/* A patient's dose state as decide reads and writes it (DoseState without `assigned`). */
typedef struct {
    int *levels; /* -1: None (discontinued) */
    long long *reductions;
    long long *occurrences;
    long long holds;
} State;

/* ----------------------------------------------------------------------------------------- */
/* Named tuples, built as tuple.__new__(cls, items) builds them (tuple_subtype_new). */

static PyObject *
new_record(PyTypeObject *type, Py_ssize_t n)
{
    return type->tp_alloc(type, n);
}

/* A filled tuple (or named tuple: no __dict__) none of whose items the garbage collector tracks
 * (numbers, None, tuples untracked) cannot be in a reference cycle. CPython untracks a plain tuple
 * so at the first collection that sees it (gc's untrack_tuples). Done at once, for the named
 * tuples too, the collections during a replicate do not walk the twenty-odd tuples of each
 * course (with the AE model, a third of the collector's time). `untracked`: a tuple of such items
 * by construction; `untrack_if_atomic`: one that may hold a tracked object. Both return `t`. */
static PyObject *
untracked(PyObject *t)
{
    if (t != NULL)
        PyObject_GC_UnTrack(t);
    return t;
}

static PyObject *
untrack_if_atomic(PyObject *t)
{
    if (t == NULL || Py_TYPE(t)->tp_dictoffset != 0)
        return t;
    PyObject *seen = NULL; /* (a course's levels repeat one tuple cycle after cycle) */
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(t); i++) {
        PyObject *x = PyTuple_GET_ITEM(t, i);
        if (x != seen && PyObject_IS_GC(x)
            && (PyObject_GC_IsTracked(x) || !PyTuple_Check(x) || Py_TYPE(x)->tp_dictoffset != 0))
            return t; /* (only a tuple, once untracked, is never tracked again) */
        seen = x;
    }
    return untracked(t);
}

/* An exact float's value, or 0 if `x` is not one. */
static inline int
exact_float(PyObject *x, double *value)
{
    if (!PyFloat_CheckExact(x))
        return 0;
    *value = PyFloat_AS_DOUBLE(x);
    return 1;
}

/* A tuple of `n` references stolen from `items` (NULL entries: an error already set). */
static PyObject *
steal_tuple(PyTypeObject *type, PyObject **items, Py_ssize_t n)
{
    Py_ssize_t i;
    PyObject *t = NULL;
    for (i = 0; i < n; i++) {
        if (items[i] == NULL)
            goto fail;
    }
    t = type == NULL ? PyTuple_New(n) : new_record(type, n);
    if (t == NULL)
        goto fail;
    for (i = 0; i < n; i++)
        PyTuple_SET_ITEM(t, i, items[i]);
    return t;
fail:
    for (i = 0; i < n; i++)
        Py_XDECREF(items[i]);
    return NULL;
}

static PyObject *
level_object(int level)
{
    if (level < 0)
        Py_RETURN_NONE;
    return PyLong_FromLong(level);
}

static PyObject *
levels_tuple(const int *levels, int n)
{
    PyObject *t = PyTuple_New(n);
    if (t == NULL)
        return NULL;
    for (int d = 0; d < n; d++) {
        PyObject *x = level_object(levels[d]);
        if (x == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, d, x);
    }
    return untracked(t);
}

static PyObject *
int_tuple(const long long *values, int n)
{
    PyObject *t = PyTuple_New(n);
    if (t == NULL)
        return NULL;
    for (int i = 0; i < n; i++) {
        PyObject *x = PyLong_FromLongLong(values[i]);
        if (x == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, x);
    }
    return untracked(t);
}

/* ----------------------------------------------------------------------------------------- */
/* Kernel construction. */

static void
Kernel_dealloc(Kernel *self)
{
    Py_XDECREF(self->args);
    PyMem_Free(self->drug_of_ae);
    PyMem_Free(self->daily);
    PyMem_Free(self->required);
    PyMem_Free(self->reductions_allowed);
    PyMem_Free(self->max_hold);
    PyMem_Free(self->max_hold_obj);
    PyMem_Free(self->rule_action);
    PyMem_Free(self->rule_scale);
    PyMem_Free(self->rule_inverse_shape);
    PyMem_Free(self->rule_reduce_from);
    PyMem_Free(self->rule_for);
    PyMem_Free(self->tails);
    PyMem_Free(self->quiet);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static long long
as_long_long(PyObject *x)
{
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(x, &overflow);
    if (overflow > 0)
        return LLONG_MAX; /* a count never reaches it */
    if (overflow < 0) {
        PyErr_SetString(PyExc_ValueError, "integer out of range");
        return -1;
    }
    return v;
}

#define ALLOC(field, count)                                                            \
    do {                                                                               \
        self->field = PyMem_Calloc((size_t)(count) > 0 ? (size_t)(count) : 1,          \
                                   sizeof(*self->field));                              \
        if (self->field == NULL) {                                                     \
            PyErr_NoMemory();                                                          \
            goto fail;                                                                 \
        }                                                                              \
    } while (0)

static PyObject *
Kernel_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    int n_ae;
    PyObject *drug_of_ae, *drugs, *rules, *rule_for, *first_trigger, *tails, *types, *actions;
    Py_buffer view = {0};
    Kernel *self = NULL;

    if (kwds != NULL && PyDict_GET_SIZE(kwds) != 0) {
        PyErr_SetString(PyExc_TypeError, "Kernel() takes positional arguments only");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "iO!O!O!O!O!OO!O!:Kernel", &n_ae, &PyTuple_Type, &drug_of_ae,
                          &PyTuple_Type, &drugs, &PyTuple_Type, &rules, &PyTuple_Type, &rule_for,
                          &PyTuple_Type, &first_trigger, &tails, &PyTuple_Type, &types,
                          &PyTuple_Type, &actions))
        return NULL;
    self = (Kernel *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    Py_INCREF(args);
    self->args = args;
    /* (bounded so that a course's scratch size cannot overflow: see run_core) */
    if (PyTuple_GET_SIZE(drugs) > 64 || PyTuple_GET_SIZE(rules) > 4096 || n_ae > 4096) {
        PyErr_SetString(PyExc_ValueError, "Kernel: at most 64 drugs, 4096 rules and AE types");
        Py_DECREF(self);
        return NULL;
    }
    int n_drugs = (int)PyTuple_GET_SIZE(drugs);
    int n_rules = (int)PyTuple_GET_SIZE(rules);
    self->n_ae = n_ae;
    self->n_drugs = n_drugs;
    self->n_rules = n_rules;
    self->n_columns = n_ae + 1 + n_drugs;
    if (n_ae < 0 || n_drugs < 1 || PyTuple_GET_SIZE(drug_of_ae) != n_ae
        || PyTuple_GET_SIZE(first_trigger) != n_ae
        || PyTuple_GET_SIZE(rule_for) != (Py_ssize_t)n_drugs * n_ae * (GRADES + 1)
        || PyTuple_GET_SIZE(types) != 5 || PyTuple_GET_SIZE(actions) != N_ACTIONS) {
        PyErr_SetString(PyExc_ValueError, "Kernel: inconsistent table sizes");
        goto fail;
    }
    for (int i = 0; i < 5; i++) {
        if (!PyType_Check(PyTuple_GET_ITEM(types, i))
            || !PyType_IsSubtype((PyTypeObject *)PyTuple_GET_ITEM(types, i), &PyTuple_Type)) {
            PyErr_SetString(PyExc_TypeError, "Kernel: the record types must be tuple classes");
            goto fail;
        }
    }
    self->DoseState = (PyTypeObject *)PyTuple_GET_ITEM(types, 0);
    self->Decision = (PyTypeObject *)PyTuple_GET_ITEM(types, 1);
    self->DosePeriod = (PyTypeObject *)PyTuple_GET_ITEM(types, 2);
    self->Course = (PyTypeObject *)PyTuple_GET_ITEM(types, 3);
    self->CourseSummary = (PyTypeObject *)PyTuple_GET_ITEM(types, 4);
    for (int i = 0; i < N_ACTIONS; i++)
        self->actions[i] = PyTuple_GET_ITEM(actions, i);

    ALLOC(drug_of_ae, n_ae);
    for (int a = 0; a < n_ae; a++) {
        long v = PyLong_AsLong(PyTuple_GET_ITEM(drug_of_ae, a));
        if (v == -1 && PyErr_Occurred())
            goto fail;
        if (v < 0 || v >= n_drugs) {
            PyErr_SetString(PyExc_ValueError, "Kernel: AE attributed to no drug");
            goto fail;
        }
        self->drug_of_ae[a] = (int)v;
    }
    ALLOC(daily, n_drugs);
    ALLOC(required, n_drugs);
    ALLOC(reductions_allowed, n_drugs);
    ALLOC(max_hold, n_drugs);
    ALLOC(max_hold_obj, n_drugs);
    for (int d = 0; d < n_drugs; d++) {
        PyObject *drug = PyTuple_GET_ITEM(drugs, d);
        if (!PyTuple_Check(drug) || PyTuple_GET_SIZE(drug) != 4) {
            PyErr_SetString(PyExc_ValueError,
                            "Kernel: drug = (daily, required, reductions_allowed, max_hold_days)");
            goto fail;
        }
        int daily = PyObject_IsTrue(PyTuple_GET_ITEM(drug, 0));
        int required = PyObject_IsTrue(PyTuple_GET_ITEM(drug, 1));
        if (daily < 0 || required < 0)
            goto fail;
        self->daily[d] = (unsigned char)daily;
        self->required[d] = (unsigned char)required;
        self->reductions_allowed[d] = as_long_long(PyTuple_GET_ITEM(drug, 2));
        if (PyErr_Occurred())
            goto fail;
        self->max_hold_obj[d] = PyTuple_GET_ITEM(drug, 3);
        self->max_hold[d] = PyFloat_AsDouble(self->max_hold_obj[d]);
        if (self->max_hold[d] == -1.0 && PyErr_Occurred())
            goto fail;
    }
    ALLOC(rule_action, n_rules);
    ALLOC(rule_scale, n_rules);
    ALLOC(rule_inverse_shape, n_rules);
    ALLOC(rule_reduce_from, n_rules);
    for (int r = 0; r < n_rules; r++) {
        PyObject *rule = PyTuple_GET_ITEM(rules, r);
        if (!PyTuple_Check(rule) || PyTuple_GET_SIZE(rule) != 4) {
            PyErr_SetString(PyExc_ValueError,
                            "Kernel: rule = (action, scale, inverse_shape, reduce_from)");
            goto fail;
        }
        long action = PyLong_AsLong(PyTuple_GET_ITEM(rule, 0));
        if (action == -1 && PyErr_Occurred())
            goto fail;
        if (action < RULE_HOLD || action > RULE_DISCONTINUE) {
            PyErr_SetString(PyExc_ValueError, "Kernel: unknown rule action");
            goto fail;
        }
        self->rule_action[r] = (int)action;
        self->rule_scale[r] = PyFloat_AsDouble(PyTuple_GET_ITEM(rule, 1));
        self->rule_inverse_shape[r] = PyFloat_AsDouble(PyTuple_GET_ITEM(rule, 2));
        self->rule_reduce_from[r] = as_long_long(PyTuple_GET_ITEM(rule, 3));
        if (PyErr_Occurred())
            goto fail;
    }
    ALLOC(rule_for, (Py_ssize_t)n_drugs * n_ae * (GRADES + 1));
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(rule_for); i++) {
        long v = PyLong_AsLong(PyTuple_GET_ITEM(rule_for, i));
        if (v == -1 && PyErr_Occurred())
            goto fail;
        if (v < -1 || v >= n_rules) {
            PyErr_SetString(PyExc_ValueError, "Kernel: rule index out of range");
            goto fail;
        }
        self->rule_for[i] = (int)v;
    }
    /* tails: P(grade >= g) as ToxicityModel.tail_table(), float64 (n_ae, width, cycle_rows, 4) */
    if (PyObject_GetBuffer(tails, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        goto fail;
    if (view.ndim != 4 || view.itemsize != 8 || view.format == NULL
        || strcmp(view.format, "d") != 0 || view.shape[0] != n_ae || view.shape[3] != GRADES
        || view.shape[1] < 1 || view.shape[2] < 1) {
        PyErr_SetString(PyExc_ValueError, "Kernel: tails must be float64 (n_ae, width, rows, 4)");
        goto fail;
    }
    self->width = (int)view.shape[1];
    self->cycle_rows = (int)view.shape[2];
    Py_ssize_t cells = (Py_ssize_t)n_ae * self->width * self->cycle_rows;
    ALLOC(tails, cells * GRADES);
    memcpy(self->tails, view.buf, (size_t)cells * GRADES * sizeof(double));
    PyBuffer_Release(&view);
    /* quiet[a][level][row]: P(grade >= the lowest grade a rule handles), 0 if none does */
    ALLOC(quiet, cells);
    for (int a = 0; a < n_ae; a++) {
        long first = PyLong_AsLong(PyTuple_GET_ITEM(first_trigger, a));
        if (first == -1 && PyErr_Occurred())
            goto fail;
        for (Py_ssize_t cell = (Py_ssize_t)a * self->width * self->cycle_rows;
             cell < (Py_ssize_t)(a + 1) * self->width * self->cycle_rows; cell++)
            self->quiet[cell] =
                (first >= 1 && first <= GRADES) ? self->tails[cell * GRADES + first - 1] : 0.0;
    }
    return (PyObject *)self;
fail:
    if (view.obj != NULL)
        PyBuffer_Release(&view);
    Py_DECREF(self);
    return NULL;
}

static PyObject *
Kernel_reduce(Kernel *self, PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue("(OO)", (PyObject *)Py_TYPE(self), self->args);
}

/* ----------------------------------------------------------------------------------------- */
/* One patient's course. */

/* Threshold row of a 1-based cycle: min(cycle, cycle_rows) - 1 (ToxicityModel.thresholds). */
static inline int
threshold_row(const Kernel *k, Py_ssize_t cycle)
{
    return (int)(cycle < k->cycle_rows ? cycle : k->cycle_rows) - 1;
}

/* Per AE type, the first cell of its tables at `levels` (the drug's level, -1: stopped): its
 * threshold row trow is cell base[a] + trow. */
static inline void
cell_bases(const Kernel *k, const int *levels, Py_ssize_t *base)
{
    for (int a = 0; a < k->n_ae; a++)
        base[a] = ((Py_ssize_t)a * k->width + levels[k->drug_of_ae[a]] + 1) * k->cycle_rows;
}

/* any(map(operator.lt, row, policy.quiet_thresholds(levels, cycle))) */
static inline int
eventful(const Kernel *k, const double *u, const Py_ssize_t *base, int trow)
{
    for (int a = 0; a < k->n_ae; a++) {
        if (u[a] < k->quiet[base[a] + trow])
            return 1;
    }
    return 0;
}

/* grades_from_thresholds(u, model.thresholds(levels, cycle)): (u < t1) + ... + (u < t4) */
static inline void
grade_row(const Kernel *k, const double *u, const Py_ssize_t *base, int trow, int *grades)
{
    for (int a = 0; a < k->n_ae; a++) {
        const double *t = k->tails + (base[a] + trow) * GRADES;
        double x = u[a];
        grades[a] = (x < t[0]) + (x < t[1]) + (x < t[2]) + (x < t[3]);
    }
}

/* RecoveryTime.days: self._scale * (-math.log1p(-uniform)) ** self._inverse_shape, with Python's
 * errors: math.log1p's domain error, float_pow's overflow, and a negative base to a fractional
 * power, which Python makes a complex number that decide's max() then cannot compare. */
static int
recovery_days(double scale, double inverse_shape, double uniform, double *days)
{
    double x = -uniform;
    double lg;
    if (x == 0.0) {
        lg = x; /* _Py_log1p: log1p(+-0) is +-0 on every platform */
    }
    else {
        lg = log1p(x);
        if ((isnan(lg) && !isnan(x)) || (isinf(lg) && isfinite(x))) {
            PyErr_SetString(PyExc_ValueError, "math domain error");
            return -1;
        }
    }
    double base = -lg;
    double w = inverse_shape;
    double power;
    /* float_pow (Objects/floatobject.c), the cases a base >= -inf and w > 0 can reach */
    if (w == 0.0)
        power = 1.0;
    else if (isnan(base))
        power = base;
    else if (isnan(w))
        power = base == 1.0 ? 1.0 : w;
    else if (isinf(w) || isinf(base) || base == 0.0)
        power = pow(base, w); /* C99 Annex F gives float_pow's special values here */
    else {
        int negate = 0;
        if (base < 0.0) {
            if (w != floor(w)) {
                PyErr_SetString(PyExc_TypeError,
                                "'>' not supported between instances of 'complex' and 'float'");
                return -1;
            }
            base = -base;
            negate = fmod(fabs(w), 2.0) == 1.0;
        }
        if (base == 1.0)
            power = negate ? -1.0 : 1.0;
        else {
            errno = 0;
            power = pow(base, w);
            if (errno == 0 && isinf(power))
                errno = ERANGE;
            else if (errno == ERANGE && power == 0.0)
                errno = 0;
            if (negate)
                power = -power;
            if (errno != 0) {
                PyErr_SetFromErrno(errno == ERANGE ? PyExc_OverflowError : PyExc_ValueError);
                return -1;
            }
        }
    }
    *days = scale * power;
    return 0;
}

/* A hold's length: a float, or (src >= 0) drug src's max_hold_days object. */
typedef struct {
    double value;
    int src;
} Hold;

/* max(hold_days): Decision.longest_hold_days */
static inline double
longest_hold(const Hold *hold, int n_drugs)
{
    double longest = hold[0].value;
    for (int d = 1; d < n_drugs; d++) {
        if (hold[d].value > longest)
            longest = hold[d].value;
    }
    return longest;
}

/* highest[a] = max(highest[a], grades[a]): run_course's _raise_to */
static inline void
raise_highest(int *highest, const int *grades, int n_ae)
{
    for (int a = 0; a < n_ae; a++) {
        if (grades[a] > highest[a])
            highest[a] = grades[a];
    }
}

static PyObject *
hold_object(const Kernel *k, Hold h)
{
    if (h.src >= 0) {
        Py_INCREF(k->max_hold_obj[h.src]);
        return k->max_hold_obj[h.src];
    }
    return PyFloat_FromDouble(h.value);
}

/* ModificationPolicy.decide on the state in `s` (updated in place into the new state).
 * Returns 0 for the quiet decision (no rule fires for a drug still given: nothing changes),
 * 1 with the Decision in *decision (new reference) and its numbers in the out arguments,
 * -1 on error. *levels_out: the new levels tuple, owned by the decision's state.
 * `scratch` holds n_rules + 2 * n_drugs ints, `objects` n_rules + 2 * n_drugs pointers. */
static int
decide(const Kernel *k, State *s, const int *grades, const double *recovery, PyObject *assigned,
       int *actions, Hold *hold, double *off_after_value, int *off, PyObject **decision,
       PyObject **levels_out, int *scratch, PyObject **objects)
{
    const int n_drugs = k->n_drugs, n_ae = k->n_ae;
    int *fired = scratch;                 /* [n_rules]: rules fired, in order met */
    int *stopped = scratch + k->n_rules;  /* [n_drugs] */
    int *ended_by = stopped + n_drugs;    /* [n_drugs] */
    int n_fired = 0, n_stopped = 0, n_ended_by = 0;
    int acting = 0;

    /* fired_by_drug and the quiet check: does a rule fire for a drug still given? */
    for (int d = 0; d < n_drugs && !acting; d++) {
        if (s->levels[d] < 0)
            continue;
        for (int a = 0; a < n_ae; a++) {
            if (k->rule_for[((Py_ssize_t)d * n_ae + a) * (GRADES + 1) + grades[a]] >= 0) {
                acting = 1;
                break;
            }
        }
    }
    if (!acting)
        return 0;

    for (int d = 0; d < n_drugs; d++) {
        actions[d] = s->levels[d] < 0 ? A_OFF : A_CONTINUE;
        hold[d].value = 0.0;
        hold[d].src = -1;
    }
    for (int d = 0; d < n_drugs; d++) {
        if (s->levels[d] < 0)
            continue;
        int start = n_fired;
        for (int a = 0; a < n_ae; a++) { /* this drug's rules, first met first, once each */
            int r = k->rule_for[((Py_ssize_t)d * n_ae + a) * (GRADES + 1) + grades[a]];
            if (r < 0)
                continue;
            int seen = 0;
            for (int i = start; i < n_fired; i++)
                seen |= fired[i] == r;
            if (!seen)
                fired[n_fired++] = r;
        }
        if (n_fired == start)
            continue;
        double days = 0.0;
        int discontinue = 0, reduce = 0;
        for (int i = start; i < n_fired; i++) {
            int r = fired[i];
            s->occurrences[r] += 1;
            if (k->rule_action[r] == RULE_DISCONTINUE)
                discontinue = 1;
            else if (k->rule_action[r] == RULE_REDUCE)
                reduce = 1;
            else {
                double x;
                if (recovery_days(k->rule_scale[r], k->rule_inverse_shape[r], recovery[d], &x) < 0)
                    return -1;
                if (x > days) /* max(days, x) */
                    days = x;
                if (k->rule_reduce_from[r] >= 0)
                    reduce = reduce || s->occurrences[r] >= k->rule_reduce_from[r];
            }
        }
        if (discontinue) {
            actions[d] = A_DISCONTINUE;
            s->levels[d] = -1;
            stopped[n_stopped++] = d;
            continue;
        }
        if (days > k->max_hold[d]) { /* held up to the limit, then stopped */
            actions[d] = A_DISCONTINUE;
            s->levels[d] = -1;
            hold[d].value = k->max_hold[d];
            hold[d].src = d;
            stopped[n_stopped++] = d;
            continue;
        }
        if (reduce && (s->levels[d] == 0 || s->reductions[d] >= k->reductions_allowed[d])) {
            actions[d] = A_DISCONTINUE;
            s->levels[d] = -1;
            stopped[n_stopped++] = d;
            continue;
        }
        if (reduce) {
            s->levels[d] -= 1;
            s->reductions[d] += 1;
        }
        hold[d].value = days; /* src stays -1, as set above */
        if (days > 0)
            actions[d] = A_HOLD;
        else
            actions[d] = reduce ? A_REDUCE : A_CONTINUE;
    }
    Hold off_after = {0.0, -1};
    *off = 0;
    if (n_stopped) {
        for (int i = 0; i < n_stopped; i++) {
            if (k->required[stopped[i]])
                ended_by[n_ended_by++] = stopped[i];
        }
        int all_stopped = 1;
        for (int d = 0; d < n_drugs; d++)
            all_stopped &= s->levels[d] < 0;
        *off = n_ended_by > 0 || all_stopped;
    }
    if (*off) {
        /* min(hold_days[d] for d in ended_by) or max(hold_days[d] for d in stopped) */
        if (n_ended_by) {
            off_after = hold[ended_by[0]];
            for (int i = 1; i < n_ended_by; i++) {
                if (hold[ended_by[i]].value < off_after.value)
                    off_after = hold[ended_by[i]];
            }
        }
        else {
            off_after = hold[stopped[0]];
            for (int i = 1; i < n_stopped; i++) {
                if (hold[stopped[i]].value > off_after.value)
                    off_after = hold[stopped[i]];
            }
        }
        for (int d = 0; d < n_drugs; d++) { /* min(hold_days[d], off_after) */
            if (off_after.value < hold[d].value)
                hold[d] = off_after;
        }
    }
    s->holds += longest_hold(hold, n_drugs) > 0;
    *off_after_value = off_after.value;
    /* fired_all.sort(): insertion sort of a handful of rule indices */
    for (int i = 1; i < n_fired; i++) {
        int r = fired[i], j = i;
        while (j > 0 && fired[j - 1] > r) {
            fired[j] = fired[j - 1];
            j--;
        }
        fired[j] = r;
    }

    if (decision == NULL) /* (Kernel.summary: the decision's numbers only) */
        return 1;
    /* Decision(actions, hold_days, fired, DoseState(...), off_after_days) */
    PyObject *items[6];
    PyObject *levels = levels_tuple(s->levels, n_drugs);
    if (levels == NULL)
        return -1;
    items[0] = levels;
    Py_INCREF(assigned);
    items[1] = assigned;
    items[2] = int_tuple(s->reductions, n_drugs);
    items[3] = int_tuple(s->occurrences, k->n_rules);
    items[4] = PyLong_FromLongLong(s->holds);
    items[5] = PyBool_FromLong(*off);
    PyObject *state = untrack_if_atomic(steal_tuple(k->DoseState, items, 6));
    if (state == NULL)
        return -1;
    PyObject **action_items = objects, **hold_items = objects + n_drugs;
    PyObject **fired_items = objects + 2 * n_drugs;
    for (int d = 0; d < n_drugs; d++) {
        Py_INCREF(k->actions[actions[d]]);
        action_items[d] = k->actions[actions[d]];
        hold_items[d] = hold_object(k, hold[d]);
    }
    for (int i = 0; i < n_fired; i++)
        fired_items[i] = PyLong_FromLong(fired[i]);
    items[0] = steal_tuple(NULL, action_items, n_drugs);
    items[1] = untrack_if_atomic(steal_tuple(NULL, hold_items, n_drugs)); /* (max_hold_days) */
    items[2] = untracked(steal_tuple(NULL, fired_items, n_fired));
    items[3] = state;
    items[4] = hold_object(k, off_after);
    *decision = steal_tuple(k->Decision, items, 5);
    if (*decision == NULL)
        return -1;
    *levels_out = levels;
    return 1;
}

/* _add_period: cut at `cut`, kept if not empty. */
static inline void
add_period(Period *periods, Py_ssize_t *n, double begin, double finish, int level, double cut)
{
    if (finish > cut)
        finish = cut;
    if (finish > begin) {
        periods[*n].start = begin;
        periods[*n].end = finish;
        periods[*n].level = level;
        (*n)++;
    }
}

/* _record_quiet: back-to-back uneventful cycles from `day` to `until`, cut at `end_day`. */
static inline void
record_quiet(const Kernel *k, Period **periods, Py_ssize_t *counts, const int *levels, double day,
             double until, double end_day)
{
    double stop = until < end_day ? until : end_day;
    for (int d = 0; d < k->n_drugs; d++) {
        if (levels[d] >= 0) {
            Period *p = &periods[d][counts[d]++];
            p->start = day;
            p->end = stop;
            p->level = levels[d];
        }
    }
}

/* The float objects a course is built of. Most period bounds are a cycle start or the course's
 * end: those get that object (a new reference), not an object of their own; a course then
 * allocates, and frees, a third fewer objects. Same bits, same value: sharing is invisible. */
typedef struct {
    const double *starts;    /* the cycle starts, increasing */
    PyObject *const *start_objects;
    Py_ssize_t n_starts;
    PyObject *end_object; /* the course's end_day, when a float */
} FloatPool;

static inline int
same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof(double)) == 0;
}

static PyObject *
pooled_float(const FloatPool *pool, double value)
{
    Py_ssize_t low = 0, high = pool->n_starts; /* the first start >= value */
    while (low < high) {
        Py_ssize_t middle = (low + high) / 2;
        if (pool->starts[middle] < value)
            low = middle + 1;
        else
            high = middle;
    }
    PyObject *found = NULL;
    if (low < pool->n_starts && same_bits(pool->starts[low], value))
        found = pool->start_objects[low];
    else if (pool->end_object != NULL && same_bits(PyFloat_AS_DOUBLE(pool->end_object), value))
        found = pool->end_object;
    if (found == NULL)
        return PyFloat_FromDouble(value);
    Py_INCREF(found);
    return found;
}

static PyObject *
period_object(const Kernel *k, const FloatPool *pool, const Period *p)
{
    PyObject *items[3];
    items[0] = pooled_float(pool, p->start);
    items[1] = pooled_float(pool, p->end);
    items[2] = level_object(p->level);
    return untracked(steal_tuple(k->DosePeriod, items, 3));
}

/* What Kernel.summary reports of a course instead of the Course: the exposure of drug `drug`,
 * whose dose per level is doses[level]. */
typedef struct {
    Py_ssize_t drug;
    const double *doses;
    Py_ssize_t n_doses;
} SummaryOf;

static int history_exposure(Period *const *periods, const Py_ssize_t *counts, int n_drugs,
                            const long *assigned, int any_decision, Py_ssize_t drug,
                            const double *doses, Py_ssize_t n_doses, int daily, double cycle_days,
                            int *held, int *reduced, double *rdi);

/* CourseSummary(cycle_start_days, highest_grades, off_treatment, held, reduced, rdi) of a course:
 * what course_summary reads of the Course, from the kernel's own arrays. Steals `starts_tuple`
 * and `highest` (the Course's first and third fields). */
static PyObject *
summary_object(const Kernel *k, const SummaryOf *of, PyObject *starts_tuple, PyObject *highest,
               int ended_by_rule, Py_ssize_t n_decisions, Period *const *periods,
               const Py_ssize_t *period_counts, PyObject *start_state, double cycle_days)
{
    int held, reduced;
    PyObject *assigned = PyTuple_GET_ITEM(start_state, 1);
    /* Course.state.off_treatment: the last decision's, else the start state's */
    int off = n_decisions > 0 ? ended_by_rule : PyObject_IsTrue(PyTuple_GET_ITEM(start_state, 5));
    if (off < 0)
        goto fail;
    long assigned_level[64]; /* (at most 64 drugs: Kernel_new) */
    for (int d = 0; d < k->n_drugs; d++) {
        assigned_level[d] = PyLong_AsLong(PyTuple_GET_ITEM(assigned, d));
        if (assigned_level[d] == -1 && PyErr_Occurred())
            goto fail;
    }
    double rdi;
    int dosed = history_exposure(periods, period_counts, k->n_drugs, assigned_level,
                                 n_decisions > 0, of->drug, of->doses, of->n_doses,
                                 k->daily[of->drug], cycle_days, &held, &reduced, &rdi);
    if (dosed < 0)
        goto fail;
    if (!dosed) {
        PyErr_SetString(PyExc_ValueError, "summary: a level of the drug without a dose");
        goto fail;
    }
    PyObject *items[6] = {starts_tuple, highest, PyBool_FromLong(off),
                          PyBool_FromLong(held), PyBool_FromLong(reduced), PyFloat_FromDouble(rdi)};
    return untracked(steal_tuple(k->CourseSummary, items, 6));
fail:
    Py_XDECREF(starts_tuple);
    Py_XDECREF(highest);
    return NULL;
}

/* Kernel.run (summary NULL) and Kernel.summary: one patient's course. args: state, uniforms,
 * rows kept, start day, end day, cycle days. */
static PyObject *
run_core(Kernel *k, PyObject *const *args, const SummaryOf *summary)
{
    PyObject *start_state = args[0], *table = args[1], *kept = args[2];
    PyObject *end_obj = args[4], *cycle_obj = args[5];
    const int n_ae = k->n_ae, n_drugs = k->n_drugs, n_rules = k->n_rules;
    Py_buffer view;
    if (PyObject_GetBuffer(table, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyErr_Clear(); /* not a C-contiguous buffer: run_course converts it */
        Py_RETURN_NOTIMPLEMENTED;
    }
    if (view.itemsize != 8 || view.format == NULL || strcmp(view.format, "d") != 0) {
        PyBuffer_Release(&view);
        Py_RETURN_NOTIMPLEMENTED;
    }
    /* rows x columns; no rows at all may come as a 1-D array (from an empty list) */
    if (!(view.ndim == 2 || (view.ndim == 1 && view.shape[0] == 0))) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "uniforms must be a 2-D array, one row per cycle");
        return NULL;
    }
    const double *uniforms = (const double *)view.buf;
    const Py_ssize_t n_rows = view.shape[0], width = view.ndim == 2 ? view.shape[1] : 0;
    if (n_rows >= ((Py_ssize_t)1 << 32)) { /* (a scratch size that fits: at most 64 drugs) */
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "uniforms: 2**32 rows or more");
        return NULL;
    }
    double start_day = PyFloat_AsDouble(args[3]);
    double end_day = PyFloat_AsDouble(end_obj);
    double cycle_days = PyFloat_AsDouble(cycle_obj);
    if (PyErr_Occurred()) {
        PyBuffer_Release(&view);
        return NULL;
    }
    if (!PyObject_TypeCheck(start_state, k->DoseState) || PyTuple_GET_SIZE(start_state) != 6) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_TypeError, "run: state must be a DoseState");
        return NULL;
    }

    /* Scratch memory, one block. Every cycle uses a row, makes at most 3 periods per drug and
     * at most one decision. */
    const Py_ssize_t cap_periods = 3 * n_rows + 3;
#define LAYOUT(X)                                                                      \
    X(starts, double, n_rows + 1)                                                      \
    X(levels_given, PyObject *, n_rows + 1) /* borrowed: the start's or a decision's */ \
    X(decisions, PyObject *, n_rows + 1)    /* owned (cycle number, Decision) pairs */  \
    X(period_store, Period, (size_t)n_drugs * (size_t)cap_periods)                     \
    X(periods, Period *, n_drugs)                                                      \
    X(period_counts, Py_ssize_t, n_drugs)                                              \
    X(hold, Hold, n_drugs)                                                             \
    X(reductions, long long, n_drugs)                                                  \
    X(levels, int, n_drugs)                                                            \
    X(previous, int, n_drugs)                                                          \
    X(actions, int, n_drugs)                                                           \
    X(occurrences, long long, n_rules)                                                 \
    X(scratch, int, n_rules + 2 * n_drugs)                                             \
    X(objects, PyObject *, n_rules + 2 * n_drugs)                                      \
    X(highest, int, n_ae)                                                              \
    X(grades, int, n_ae)                                                               \
    X(base, Py_ssize_t, n_ae)                                                          \
    X(smallest, double, n_ae)
#define ALIGNED(type, count) (((size_t)(count) * sizeof(type) + 15) & ~(size_t)15)
#define MEASURE(name, type, count) bytes += ALIGNED(type, count);
#define CARVE(name, type, count)                                                       \
    type *name = (type *)cursor;                                                       \
    cursor += ALIGNED(type, count);
    size_t bytes = 0;
    LAYOUT(MEASURE)
    _Alignas(16) char on_stack[8192]; /* enough for most courses: no allocation */
    char *memory = bytes <= sizeof on_stack ? on_stack : PyMem_Malloc(bytes);
    if (memory == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    char *cursor = memory;
    LAYOUT(CARVE)
#undef LAYOUT
#undef ALIGNED
#undef MEASURE
#undef CARVE
    Py_ssize_t n_decisions = 0, n_cycles = 0;
    PyObject *state = NULL, *result = NULL;
    PyObject *current_levels; /* borrowed: the state's levels tuple */

    for (int d = 0; d < n_drugs; d++) {
        periods[d] = period_store + (size_t)d * cap_periods;
        period_counts[d] = 0;
    }
    memset(highest, 0, sizeof(int) * (size_t)n_ae);
    /* the start state's numbers */
    Py_INCREF(start_state);
    state = start_state;
    PyObject *assigned = PyTuple_GET_ITEM(state, 1);
    current_levels = PyTuple_GET_ITEM(state, 0);
    {
        PyObject *red = PyTuple_GET_ITEM(state, 2), *occ = PyTuple_GET_ITEM(state, 3);
        if (!PyTuple_Check(current_levels) || PyTuple_GET_SIZE(current_levels) != n_drugs
            || !PyTuple_Check(red) || PyTuple_GET_SIZE(red) != n_drugs || !PyTuple_Check(occ)
            || PyTuple_GET_SIZE(occ) != n_rules) {
            PyErr_SetString(PyExc_ValueError, "run: the state does not fit the policy");
            goto done;
        }
        for (int d = 0; d < n_drugs; d++) {
            PyObject *lv = PyTuple_GET_ITEM(current_levels, d);
            long level = lv == Py_None ? -1 : PyLong_AsLong(lv);
            if ((level == -1 && PyErr_Occurred()) || level < -1 || level >= k->width - 1) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_ValueError, "run: the state does not fit the policy");
                goto done;
            }
            levels[d] = (int)level;
            reductions[d] = as_long_long(PyTuple_GET_ITEM(red, d));
        }
        for (int r = 0; r < n_rules; r++)
            occurrences[r] = as_long_long(PyTuple_GET_ITEM(occ, r));
        if (PyErr_Occurred())
            goto done;
    }
    State s = {levels, reductions, occurrences, 0};
    s.holds = as_long_long(PyTuple_GET_ITEM(state, 4));
    if (PyErr_Occurred())
        goto done;

    int ended_by_rule = 0;
    double ended = end_day;
    double day = start_day;
    Py_ssize_t row = 0; /* the next cycle's row; its cycle number is row + 1 */
    const double closing = end_day - DAY_TOLERANCE * cycle_days;
#define ROW(i) (uniforms + (size_t)(i) * (size_t)width)
#define CHECK_ROW(i)                                                                   \
    if ((i) < 0 || (i) >= n_rows) {                                                    \
        PyErr_SetString(PyExc_IndexError, "list index out of range");                  \
        goto done;                                                                     \
    }
    if (day < closing && n_rows > 0 && width < k->n_columns) {
        /* (the reference would fail only when it reads a missing column: a kernel reads whole
         * rows) */
        PyErr_Format(PyExc_ValueError,
                     "uniforms must be rows of at least %d columns (AE types, onset, recoveries)",
                     k->n_columns);
        goto done;
    }
    while (day < closing) {
        /* cycles given if nothing happens */
        double left_real = ceil((end_day - day) / cycle_days - DAY_TOLERANCE);
        if (!(left_real < (double)PY_SSIZE_T_MAX)) {
            PyErr_SetString(PyExc_IndexError, "list index out of range");
            goto done;
        }
        Py_ssize_t left = (Py_ssize_t)left_real;
        Py_ssize_t given = row + left;
        double last_start = day + (double)(left - 1) * cycle_days;
        CHECK_ROW(given - 1)
        /* the rows whose AEs happen: the last cycle's only if they show before the end */
        Py_ssize_t happen =
            last_start + ROW(given - 1)[n_ae] * cycle_days < end_day ? given : given - 1;
        cell_bases(k, levels, base);
        const int last_trow = k->cycle_rows - 1; /* the threshold row of every later cycle */
        Py_ssize_t event = row;
        int broke = 0;
        while (event < happen && event < last_trow) { /* cycles with their own factors */
            if (eventful(k, ROW(event), base, (int)event)) {
                broke = 1;
                break;
            }
            event++;
        }
        if (!broke) {
            while (event < happen && !eventful(k, ROW(event), base, last_trow))
                event++;
        }
        if (event > row) { /* uneventful cycles, back to back at the same levels */
            Py_ssize_t r = row;
            for (; r < event && r < last_trow; r++) { /* graded one by one */
                grade_row(k, ROW(r), base, (int)r, grades);
                raise_highest(highest, grades, n_ae);
            }
            if (r < event) { /* the rest: graded by each AE's smallest uniform (_add_minima) */
                memcpy(smallest, ROW(r), sizeof(double) * (size_t)n_ae);
                for (r++; r < event; r++) {
                    const double *u = ROW(r);
                    for (int a = 0; a < n_ae; a++) /* (min(smallest, u) as Python's min) */
                        smallest[a] = u[a] < smallest[a] ? u[a] : smallest[a];
                }
                grade_row(k, smallest, base, last_trow, grades);
                raise_highest(highest, grades, n_ae);
            }
            Py_ssize_t n = event - row;
            for (Py_ssize_t i = 0; i < n; i++) {
                starts[n_cycles] = day + (double)i * cycle_days;
                levels_given[n_cycles++] = current_levels;
            }
            record_quiet(k, periods, period_counts, levels, day, day + (double)n * cycle_days,
                         end_day);
            day += (double)n * cycle_days;
            row = event;
        }
        if (event == happen) {
            if (happen < given) { /* the last cycle, whose AEs would show after the end */
                starts[n_cycles] = day;
                levels_given[n_cycles++] = current_levels;
                record_quiet(k, periods, period_counts, levels, day, day + cycle_days, end_day);
                row += 1;
            }
            break;
        }
        const double *values = ROW(row);
        grade_row(k, values, base, threshold_row(k, row + 1), grades);
        raise_highest(highest, grades, n_ae);
        double onset = day + values[n_ae] * cycle_days;
        double due = day + cycle_days;
        starts[n_cycles] = day;
        levels_given[n_cycles++] = current_levels;
        memcpy(previous, levels, sizeof(int) * (size_t)n_drugs);
        double off_after;
        int off;
        PyObject *decision = NULL, *new_levels = NULL;
        int fired = decide(k, &s, grades, values + n_ae + 1, assigned, actions, hold, &off_after,
                           &off, summary == NULL ? &decision : NULL, &new_levels, scratch,
                           objects);
        if (fired < 0)
            goto done;
        row += 1;
        if (!fired) { /* a handled grade, but for a drug already stopped */
            record_quiet(k, periods, period_counts, levels, day, due, end_day);
            day = due;
            continue;
        }
        if (summary != NULL)
            decisions[n_decisions++] = NULL; /* counted, not recorded */
        else {
            current_levels = new_levels; /* kept alive by the decision, kept to the end */
            PyObject *number = PyLong_FromSsize_t(row);
            PyObject *pair = number == NULL ? NULL : PyTuple_New(2);
            if (pair == NULL) {
                Py_XDECREF(number);
                Py_DECREF(decision);
                goto done;
            }
            PyTuple_SET_ITEM(pair, 0, number);
            PyTuple_SET_ITEM(pair, 1, decision);
            decisions[n_decisions++] = pair;
            Py_SETREF(state, PyTuple_GET_ITEM(decision, 3));
            Py_INCREF(state);
        }
        double next_day;
        if (off && onset + off_after >= end_day) {
            /* The end (progression, death, dropout, the data cut) comes first, in the hold
             * before the rule would end treatment: it has not ended it. */
            if (summary == NULL) {
                PyObject *kept_state = new_record(k->DoseState, 6);
                if (kept_state == NULL)
                    goto done;
                for (int i = 0; i < 6; i++) {
                    PyObject *x = i == 5 ? Py_False : PyTuple_GET_ITEM(state, i);
                    Py_INCREF(x);
                    PyTuple_SET_ITEM(kept_state, i, x);
                }
                Py_SETREF(state, kept_state);
            }
            off = 0;
            next_day = end_day;
        }
        else if (off) {
            ended = next_day = onset + off_after;
            ended_by_rule = 1;
        }
        else {
            double until = onset + longest_hold(hold, n_drugs);
            next_day = due; /* min(max(due, onset + longest), end_day) */
            if (until > next_day)
                next_day = until;
            if (end_day < next_day)
                next_day = end_day;
        }
        for (int d = 0; d < n_drugs; d++) { /* _record_drug */
            if (previous[d] < 0)
                continue;
            Period *p = periods[d];
            Py_ssize_t *n = &period_counts[d];
            double recovered = onset + hold[d].value;
            if (!k->daily[d]) {
                add_period(p, n, day, due, previous[d], next_day);
                if (actions[d] == A_DISCONTINUE)
                    add_period(p, n, due, recovered, -1, next_day); /* held past the due day */
                else
                    add_period(p, n, due, next_day, -1, next_day);
            }
            else if (actions[d] == A_CONTINUE) {
                add_period(p, n, day, next_day, previous[d], next_day);
            }
            else {
                add_period(p, n, day, onset, previous[d], next_day);
                add_period(p, n, onset, recovered, -1, next_day);
                if (actions[d] != A_DISCONTINUE)
                    add_period(p, n, recovered, next_day, levels[d], next_day);
            }
        }
        if (off)
            break;
        day = next_day;
    }
#undef ROW
#undef CHECK_ROW

    /* Course(cycle_start_days, levels, highest_grades, decisions, periods, end_day, state,
     *        uniform_rows, cycle_days) */
    {
        PyObject *items[9] = {NULL};
        PyObject *t = PyTuple_New(n_cycles);
        if (t != NULL) {
            for (Py_ssize_t i = 0; i < n_cycles; i++) {
                PyObject *x = PyFloat_FromDouble(starts[i]);
                if (x == NULL) {
                    Py_CLEAR(t);
                    break;
                }
                PyTuple_SET_ITEM(t, i, x);
            }
        }
        items[0] = untracked(t);
        t = PyTuple_New(n_ae);
        if (t != NULL) {
            for (int a = 0; a < n_ae; a++)
                PyTuple_SET_ITEM(t, a, PyLong_FromLong(highest[a])); /* small ints: no failure */
        }
        items[2] = untracked(t);
        if (summary != NULL) {
            if (items[0] == NULL || items[2] == NULL) {
                Py_XDECREF(items[0]);
                Py_XDECREF(items[2]);
                goto done;
            }
            result = summary_object(k, summary, items[0], items[2], ended_by_rule, n_decisions,
                                    periods, period_counts, start_state, cycle_days);
            goto done;
        }
        t = PyTuple_New(n_cycles);
        if (t != NULL) {
            for (Py_ssize_t i = 0; i < n_cycles; i++) {
                Py_INCREF(levels_given[i]);
                PyTuple_SET_ITEM(t, i, levels_given[i]);
            }
        }
        items[1] = untrack_if_atomic(t);
        t = PyTuple_New(n_decisions);
        if (t != NULL) {
            for (Py_ssize_t i = 0; i < n_decisions; i++) {
                PyTuple_SET_ITEM(t, i, decisions[i]);
                decisions[i] = NULL;
            }
        }
        items[3] = t;
        if (ended_by_rule)
            items[5] = PyFloat_FromDouble(ended);
        else {
            Py_INCREF(end_obj);
            items[5] = end_obj;
        }
        FloatPool pool = {starts, NULL, 0, NULL};
        if (items[0] != NULL) {
            pool.start_objects = &PyTuple_GET_ITEM(items[0], 0);
            pool.n_starts = n_cycles;
        }
        if (items[5] != NULL && PyFloat_CheckExact(items[5]))
            pool.end_object = items[5];
        t = PyTuple_New(n_drugs);
        if (t != NULL) {
            for (int d = 0; d < n_drugs && t != NULL; d++) {
                PyObject *drug = PyTuple_New(period_counts[d]);
                if (drug == NULL) {
                    Py_CLEAR(t);
                    break;
                }
                PyTuple_SET_ITEM(t, d, drug);
                for (Py_ssize_t i = 0; i < period_counts[d]; i++) {
                    PyObject *x = period_object(k, &pool, &periods[d][i]);
                    if (x == NULL) {
                        Py_CLEAR(t);
                        break;
                    }
                    PyTuple_SET_ITEM(drug, i, x);
                }
                if (t != NULL)
                    untracked(drug);
            }
        }
        items[4] = untracked(t);
        Py_INCREF(state);
        items[6] = state;
        /* uniform_rows: the array given, or a tuple of the rows' lists */
        if (PyList_Check(kept))
            items[7] = PyList_AsTuple(kept);
        else {
            Py_INCREF(kept);
            items[7] = kept;
        }
        Py_INCREF(cycle_obj);
        items[8] = cycle_obj;
        result = untrack_if_atomic(steal_tuple(k->Course, items, 9));
    }
done:
    for (Py_ssize_t i = 0; i < n_decisions; i++)
        Py_XDECREF(decisions[i]);
    Py_XDECREF(state);
    if (memory != on_stack)
        PyMem_Free(memory);
    PyBuffer_Release(&view);
    return result;
}

static PyObject *
Kernel_run(Kernel *k, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError,
                        "run(state, uniforms, rows_kept, start_day, end_day, cycle_days)");
        return NULL;
    }
    return run_core(k, args, NULL);
}

static PyObject *
Kernel_summary(Kernel *k, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError,
                        "summary(state, uniforms, start_day, end_day, cycle_days, drug, doses)");
        return NULL;
    }
    SummaryOf of = {PyLong_AsSsize_t(args[5]), NULL, 0};
    if (of.drug == -1 && PyErr_Occurred())
        return NULL;
    PyObject *doses = args[6];
    if (of.drug < 0 || of.drug >= k->n_drugs || !PyTuple_Check(doses)
        || PyTuple_GET_SIZE(doses) < 1 || PyTuple_GET_SIZE(doses) > 64) {
        PyErr_SetString(PyExc_ValueError, "summary: a drug's index and its 1 to 64 doses");
        return NULL;
    }
    double values[64];
    of.n_doses = PyTuple_GET_SIZE(doses);
    for (Py_ssize_t i = 0; i < of.n_doses; i++) {
        if (!exact_float(PyTuple_GET_ITEM(doses, i), &values[i])) {
            PyErr_SetString(PyExc_TypeError, "summary: doses must be floats");
            return NULL;
        }
    }
    of.doses = values;
    PyObject *core_args[6] = {args[0], args[1], Py_None, args[2], args[3], args[4]};
    return run_core(k, core_args, &of);
}

/* ----------------------------------------------------------------------------------------- */
/* What a patient record reports of a course: exposure(course, drug, dose_levels, daily) ->
 * (course.held, course.reduced, relative_dose_intensity(drug's doses, course.state.assigned[drug],
 * course.periods[drug], course.cycle_days)), as sim.dose_modification.course_exposure documents.
 * Mirrors those two properties and that function (tests/test_course_kernel.py compares them);
 * NotImplemented for anything but the kernel's own Course of floats, levels and float doses,
 * which course_exposure then reads with them. */

static PyObject *builtin_sum; /* sum(): the reference's summation, whatever Python's version */

/* A DosePeriod: a tuple subclass of three (the Python code reads .level, which a plain tuple
 * lacks) whose days are floats. */
static inline int
is_period(PyObject *period)
{
    double day;
    return PyTuple_Check(period) && !PyTuple_CheckExact(period) && PyTuple_GET_SIZE(period) == 3
           && exact_float(PyTuple_GET_ITEM(period, 0), &day)
           && exact_float(PyTuple_GET_ITEM(period, 1), &day);
}

/* relative_dose_intensity of `n` periods of a drug at doses[level] (level -1: held), assigned
 * `planned_dose`, in its order of operations: the doses taken summed as Python's sum() sums the
 * same terms (before 3.12, in order from 0, done here; since, with a compensation, so by sum()
 * itself, whose algorithm may change again). A day-1 drug's administrations per period are
 * DosePeriod.administrations, math.ceil((end - start) / cycle_days - 1e-9), an int: a dose times
 * it multiplies by the int as a float, exact below 2**53 (checked: OverflowError beyond, a course
 * of 2**53 cycles). 0 with the RDI in *rdi, -1 on error. */
static int
periods_intensity(const Period *periods, Py_ssize_t n, const double *doses, int daily,
                  double planned_dose, double cycle_days, double *rdi)
{
    Py_ssize_t n_given = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        n_given += periods[i].level >= 0;
    if (n_given == 0) { /* never given */
        *rdi = Py_NAN;
        return 0;
    }
#if PY_VERSION_HEX < 0x030C0000
    /* sum() of floats before Python 3.12: added in order, from 0 */
    double taken = 0.0;
#else
    /* since 3.12 sum() compensates its rounding: the same terms, summed by it */
    PyObject *terms = PyTuple_New(n_given);
    if (terms == NULL)
        return -1;
#endif
    double first = 0.0, last_start = 0.0, last_count = 0.0, end = periods[n - 1].end;
    Py_ssize_t t = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        const Period *p = &periods[i];
        if (p->level < 0)
            continue;
        if (t == 0)
            first = p->start;
        double term;
        if (daily)
            term = doses[p->level] * (p->end - p->start);
        else {
            double count = ceil((p->end - p->start) / cycle_days - 1e-9);
            if (!(fabs(count) < 9007199254740992.0)) {
#if PY_VERSION_HEX >= 0x030C0000
                Py_DECREF(terms);
#endif
                PyErr_SetString(PyExc_OverflowError, "RDI: 2**53 administrations or more");
                return -1;
            }
            last_count = count;
            last_start = p->start;
            term = doses[p->level] * count;
        }
#if PY_VERSION_HEX < 0x030C0000
        taken += term;
#else
        PyObject *x = PyFloat_FromDouble(term);
        if (x == NULL) {
            Py_DECREF(terms);
            return -1;
        }
        PyTuple_SET_ITEM(terms, t, x);
#endif
        t++;
    }
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *sum = PyObject_CallOneArg(builtin_sum, terms);
    Py_DECREF(terms);
    if (sum == NULL)
        return -1;
    double taken = PyFloat_AsDouble(sum);
    Py_DECREF(sum);
    if (taken == -1.0 && PyErr_Occurred())
        return -1;
#endif
    double planned;
    if (daily)
        planned = planned_dose * (end - first);
    else {
        double last_dose = last_start + (last_count - 1) * cycle_days;
        double until = end; /* max(end, last_dose + cycle_days) */
        if (last_dose + cycle_days > until)
            until = last_dose + cycle_days;
        planned = planned_dose * (until - first) / cycle_days;
    }
    *rdi = planned > 0 ? taken / planned : Py_NAN;
    return 0;
}

/* What a record reads of a course's dose history, from every drug's periods: Course.held and
 * Course.reduced (False at once if no rule fired: most courses) and relative_dose_intensity of
 * drug `drug` at doses[level]. 1 with them set, 0 if a level of that drug (or its assigned one)
 * has no dose, -1 on error. */
static int
history_exposure(Period *const *periods, const Py_ssize_t *counts, int n_drugs,
                 const long *assigned, int any_decision, Py_ssize_t drug, const double *doses,
                 Py_ssize_t n_doses, int daily, double cycle_days, int *held, int *reduced,
                 double *rdi)
{
    *held = *reduced = 0;
    for (int d = 0; d < n_drugs && any_decision; d++) {
        for (Py_ssize_t i = 0; i < counts[d]; i++) {
            int level = periods[d][i].level;
            *held |= level < 0;
            *reduced |= level >= 0 && level < assigned[d];
        }
    }
    int dosed = assigned[drug] >= 0 && assigned[drug] < n_doses;
    for (Py_ssize_t i = 0; i < counts[drug]; i++)
        dosed &= periods[drug][i].level < n_doses;
    if (!dosed)
        return 0;
    return periods_intensity(periods[drug], counts[drug], doses, daily, doses[assigned[drug]],
                             cycle_days, rdi) < 0 ? -1 : 1;
}

/* A level as the kernel holds it: None is -1, a given level an exact int from 0; 0 for any other
 * object (a course not of the kernel's making: the Python code reads it). */
static inline int
period_level(PyObject *level, int *value)
{
    if (level == Py_None) {
        *value = -1;
        return 1;
    }
    long index = PyLong_CheckExact(level) ? PyLong_AsLong(level) : -1;
    if (index == -1 && PyErr_Occurred())
        PyErr_Clear();
    if (index < 0 || index > INT_MAX)
        return 0;
    *value = (int)index;
    return 1;
}

static PyObject *
exposure(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "exposure(course, drug, dose_levels, daily)");
        return NULL;
    }
    PyObject *course = args[0], *doses = args[2];
    int daily = PyObject_IsTrue(args[3]);
    if (daily < 0)
        return NULL;
    Py_ssize_t drug = PyLong_AsSsize_t(args[1]);
    if (drug == -1 && PyErr_Occurred())
        return NULL;
    enum { MAX = 64 }; /* drugs, doses, periods on the stack */
    double cycle_days, dose_values[MAX];
    /* Course(cycle_start_days, levels, highest_grades, decisions, periods, end_day, state, ...) */
    if (!PyTuple_Check(course) || PyTuple_GET_SIZE(course) != 9 || !PyTuple_Check(doses)
        || PyTuple_GET_SIZE(doses) > MAX || !exact_float(PyTuple_GET_ITEM(course, 8), &cycle_days))
        Py_RETURN_NOTIMPLEMENTED;
    Py_ssize_t n_doses = PyTuple_GET_SIZE(doses);
    for (Py_ssize_t i = 0; i < n_doses; i++) {
        if (!exact_float(PyTuple_GET_ITEM(doses, i), &dose_values[i]))
            Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject *decisions = PyTuple_GET_ITEM(course, 3), *histories = PyTuple_GET_ITEM(course, 4);
    PyObject *state = PyTuple_GET_ITEM(course, 6);
    if (!PyTuple_Check(decisions) || !PyTuple_Check(histories) || !PyTuple_Check(state)
        || PyTuple_GET_SIZE(state) != 6 || !PyTuple_Check(PyTuple_GET_ITEM(state, 1)))
        Py_RETURN_NOTIMPLEMENTED;
    PyObject *assigned_levels = PyTuple_GET_ITEM(state, 1);
    Py_ssize_t n_drugs = PyTuple_GET_SIZE(histories), total = 0;
    if (PyTuple_GET_SIZE(assigned_levels) != n_drugs || n_drugs > MAX || drug < 0
        || drug >= n_drugs)
        Py_RETURN_NOTIMPLEMENTED;
    long assigned[MAX];
    Py_ssize_t counts[MAX];
    for (Py_ssize_t d = 0; d < n_drugs; d++) {
        PyObject *history = PyTuple_GET_ITEM(histories, d);
        int level;
        if (!PyTuple_Check(history) || !period_level(PyTuple_GET_ITEM(assigned_levels, d), &level)
            || level < 0)
            Py_RETURN_NOTIMPLEMENTED;
        assigned[d] = level;
        counts[d] = PyTuple_GET_SIZE(history);
        total += counts[d];
    }
    Period on_stack[MAX], *store = total <= MAX ? on_stack : PyMem_New(Period, total);
    Period *periods[MAX];
    if (store == NULL)
        return PyErr_NoMemory();
    int found = 1;
    for (Py_ssize_t d = 0, next = 0; d < n_drugs && found; d++) {
        periods[d] = store + next;
        for (Py_ssize_t i = 0; i < counts[d] && found; i++, next++) {
            PyObject *period = PyTuple_GET_ITEM(PyTuple_GET_ITEM(histories, d), i);
            Period *p = &store[next];
            found = is_period(period) && period_level(PyTuple_GET_ITEM(period, 2), &p->level);
            if (!found)
                break;
            p->start = PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(period, 0));
            p->end = PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(period, 1));
            if (d == drug && !daily && p->level >= 0) /* a count not exact as a float */
                found = fabs(ceil((p->end - p->start) / cycle_days - 1e-9)) < 9007199254740992.0;
        }
    }
    int held, reduced;
    double rdi;
    if (found)
        found = history_exposure(periods, counts, (int)n_drugs, assigned,
                                 PyTuple_GET_SIZE(decisions) > 0, drug, dose_values, n_doses,
                                 daily, cycle_days, &held, &reduced, &rdi);
    if (store != on_stack)
        PyMem_Free(store);
    if (found <= 0)
        return found < 0 ? NULL : Py_NewRef(Py_NotImplemented);
    PyObject *items[3] = {PyBool_FromLong(held), PyBool_FromLong(reduced), PyFloat_FromDouble(rdi)};
    return steal_tuple(NULL, items, 3); /* (Py_BuildValue would parse its format every time) */
}

/* ----------------------------------------------------------------------------------------- */
/* PCG64's doubles at any position of a stream: pcg64_fill(out, first, stop, stream, position)
 * writes into elements [first, stop) of `out` (a writable C-contiguous float64 buffer) the
 * doubles numpy's Generator(PCG64).random draws at positions position + first, ...,
 * position + stop - 1 of the stream whose state before its first draw is `stream`
 * (state >> 64, state & (2**64 - 1), inc >> 64, inc & (2**64 - 1)), as
 * sim.rng.ReplicateStreams.uniform_stream gives it. Every double is one 64-bit output, so a
 * position is reached by PCG's jump-ahead without drawing the numbers before it: the engine fills
 * only the adverse-event rows its patients use, each with the number it would have had in the
 * patients' blocks drawn one after another.
 * numpy's pcg64.h: the state steps (state * multiplier + inc, mod 2**128), then the output is
 * XSL-RR of the new state; a double is (output >> 11) * 2**-53. The jump is O'Neill's
 * pcg_advance_lcg_128 (Brown 1994, "Random number generation with arbitrary strides"). */

#ifndef __SIZEOF_INT128__
#error "sim._course needs a compiler with 128-bit integers (unsigned __int128) for PCG64"
#endif
typedef unsigned __int128 u128;
#define PCG64_MULTIPLIER (((u128)0x2360ED051FC65DA4ULL << 64) | 0x4385DF649FCCF645ULL)

/* The state `delta` steps after `state` (pcg_advance_lcg_128). */
static u128
pcg64_advance(u128 state, unsigned long long delta, u128 inc)
{
    u128 mult = PCG64_MULTIPLIER, plus = inc, acc_mult = 1, acc_plus = 0;
    while (delta > 0) {
        if (delta & 1) {
            acc_mult *= mult;
            acc_plus = acc_plus * mult + plus;
        }
        plus = (mult + 1) * plus;
        mult *= mult;
        delta >>= 1;
    }
    return acc_mult * state + acc_plus;
}

static int
u64_item(PyObject *tuple, Py_ssize_t i, unsigned long long *value)
{
    *value = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(tuple, i));
    return *value == (unsigned long long)-1 && PyErr_Occurred() ? -1 : 0;
}

/* The stream last read and its words: a replicate's patients draw from one stream tuple, read
 * once rather than for each patient (a tuple does not change; it is kept alive with them). */
static PyObject *last_stream;
static unsigned long long last_words[4];

static PyObject *
pcg64_fill(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "pcg64_fill(out, first, stop, stream, position)");
        return NULL;
    }
    Py_ssize_t first = PyLong_AsSsize_t(args[1]), stop = PyLong_AsSsize_t(args[2]);
    if ((first == -1 || stop == -1) && PyErr_Occurred())
        return NULL;
    PyObject *stream = args[3];
    unsigned long long words[4], position;
    if (stream == last_stream)
        memcpy(words, last_words, sizeof words);
    else {
        if (!PyTuple_Check(stream) || PyTuple_GET_SIZE(stream) != 4) {
            PyErr_SetString(PyExc_TypeError,
                            "pcg64_fill: stream = (state_hi, state_lo, inc_hi, inc_lo)");
            return NULL;
        }
        for (int i = 0; i < 4; i++) {
            if (u64_item(stream, i, &words[i]) < 0)
                return NULL;
        }
        Py_INCREF(stream);
        Py_XSETREF(last_stream, stream);
        memcpy(last_words, words, sizeof words);
    }
    position = PyLong_AsUnsignedLongLong(args[4]);
    if (position == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) < 0)
        return NULL;
    if (view.itemsize != 8 || view.format == NULL || strcmp(view.format, "d") != 0
        || first < 0 || stop < first || stop > view.len / 8) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError,
                        "pcg64_fill: out must be float64 with elements [first, stop)");
        return NULL;
    }
    u128 inc = ((u128)words[2] << 64) | words[3];
    u128 state = pcg64_advance(((u128)words[0] << 64) | words[1],
                               position + (unsigned long long)first, inc);
    double *out = (double *)view.buf;
    for (Py_ssize_t i = first; i < stop; i++) {
        state = state * PCG64_MULTIPLIER + inc;
        unsigned long long high = (unsigned long long)(state >> 64);
        unsigned int rotation = (unsigned int)(state >> 122);
        unsigned long long x = high ^ (unsigned long long)state;
        x = (x >> rotation) | (x << ((64 - rotation) & 63));
        out[i] = (double)(x >> 11) * (1.0 / 9007199254740992.0);
    }
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

/* SeedSequence (numpy.random.SeedSequence; O'Neill 2015, "Developing a seed_seq alternative"):
 * its pool of 4 words mixed from the entropy words (the run's, padded to 4, then the spawn key's),
 * generate_state(4, uint64), then PCG64's seeding (numpy's pcg64_set_seed), as sim.rng computes
 * them for arrays of keys (seed_sequence_states, pcg64_state). Returns the stream as pcg64_fill
 * reads it. A long course's own stream: half a microsecond here, 12 through numpy's objects. */
#define SS_INIT_A 0x43B0D7E5u
#define SS_MULT_A 0x931E8875u
#define SS_INIT_B 0x8B51F9DDu
#define SS_MULT_B 0x58F38DEDu
#define SS_MIX_L 0xCA01F9DDu
#define SS_MIX_R 0x4973F715u

static inline uint32_t
ss_hashmix(uint32_t value, uint32_t *hash_const)
{
    value ^= *hash_const;
    *hash_const *= SS_MULT_A;
    value *= *hash_const;
    return value ^ (value >> 16);
}

static inline uint32_t
ss_mix(uint32_t x, uint32_t y)
{
    uint32_t result = SS_MIX_L * x - SS_MIX_R * y;
    return result ^ (result >> 16);
}

/* Word i of the entropy tuple, checked to be below 2**32. */
static int
entropy_word(PyObject *entropy, Py_ssize_t i, uint32_t *word)
{
    unsigned long long value = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(entropy, i));
    if (value == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    if (value > 0xFFFFFFFFull) {
        PyErr_SetString(PyExc_ValueError, "pcg64_seed_stream: words are below 2**32");
        return -1;
    }
    *word = (uint32_t)value;
    return 0;
}

static PyObject *
pcg64_seed_stream(PyObject *Py_UNUSED(module), PyObject *entropy)
{
    Py_ssize_t n = PyTuple_Check(entropy) ? PyTuple_GET_SIZE(entropy) : -1;
    if (n < 4) {
        PyErr_SetString(PyExc_TypeError, "pcg64_seed_stream: a tuple of at least 4 words");
        return NULL;
    }
    uint32_t pool[4], word, hash_const = SS_INIT_A;
    for (int i = 0; i < 4; i++) {
        if (entropy_word(entropy, i, &word) < 0)
            return NULL;
        pool[i] = ss_hashmix(word, &hash_const);
    }
    for (int source = 0; source < 4; source++) {
        for (int target = 0; target < 4; target++) {
            if (source != target)
                pool[target] = ss_mix(pool[target], ss_hashmix(pool[source], &hash_const));
        }
    }
    for (Py_ssize_t source = 4; source < n; source++) {
        if (entropy_word(entropy, source, &word) < 0)
            return NULL;
        for (int target = 0; target < 4; target++)
            pool[target] = ss_mix(pool[target], ss_hashmix(word, &hash_const));
    }
    uint32_t hash_b = SS_INIT_B, state_words[8];
    for (int i = 0; i < 8; i++) {
        uint32_t value = pool[i % 4] ^ hash_b;
        hash_b *= SS_MULT_B;
        value *= hash_b;
        state_words[i] = value ^ (value >> 16);
    }
    unsigned long long w[4]; /* generate_state(4, uint64): pairs of words, little-endian */
    for (int i = 0; i < 4; i++)
        w[i] = state_words[2 * i] | ((unsigned long long)state_words[2 * i + 1] << 32);
    u128 increment = ((((u128)w[2] << 64) | w[3]) << 1) | 1;
    u128 state = (increment + (((u128)w[0] << 64) | w[1])) * PCG64_MULTIPLIER + increment;
    return Py_BuildValue("(KKKK)", (unsigned long long)(state >> 64), (unsigned long long)state,
                         (unsigned long long)(increment >> 64), (unsigned long long)increment);
}

static PyMethodDef module_functions[] = {
    {"exposure", (PyCFunction)(void (*)(void))exposure, METH_FASTCALL,
     "exposure(course, drug, dose_levels, daily) -> (held, reduced, rdi) or NotImplemented: "
     "see sim.dose_modification.course_exposure."},
    {"pcg64_fill", (PyCFunction)(void (*)(void))pcg64_fill, METH_FASTCALL,
     "pcg64_fill(out, first, stop, stream, position): numpy's PCG64 doubles at those positions "
     "of a stream, written into out[first:stop]; see sim.rng.ReplicateStreams.uniform_stream."},
    {"pcg64_seed_stream", (PyCFunction)(void (*)(void))pcg64_seed_stream, METH_O,
     "pcg64_seed_stream(entropy) -> stream: the stream pcg64_fill reads of the PCG64 that "
     "SeedSequence seeds from these 32-bit entropy words (4 or more); see "
     "sim.rng.spawned_uniform_stream."},
    {NULL, NULL, 0, NULL},
};

static PyMethodDef Kernel_methods[] = {
    {"run", (PyCFunction)(void (*)(void))Kernel_run, METH_FASTCALL,
     "run(state, uniforms, rows_kept, start_day, end_day, cycle_days) -> Course or "
     "NotImplemented: sim.dose_modification.run_course for one patient."},
    {"summary", (PyCFunction)(void (*)(void))Kernel_summary, METH_FASTCALL,
     "summary(state, uniforms, start_day, end_day, cycle_days, drug, doses) -> CourseSummary or "
     "NotImplemented: sim.dose_modification.course_summary of run's Course, without making it."},
    {"__reduce__", (PyCFunction)Kernel_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject KernelType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sim._course.Kernel",
    .tp_basicsize = sizeof(Kernel),
    .tp_dealloc = (destructor)Kernel_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A ModificationPolicy's tables, compiled: see sim/_course.c.",
    .tp_methods = Kernel_methods,
    .tp_new = Kernel_new,
};

static struct PyModuleDef course_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "sim._course",
    .m_doc = "The compiled kernel of sim.dose_modification.run_course (see sim/_course.c).",
    .m_size = -1,
    .m_methods = module_functions,
};

PyMODINIT_FUNC
PyInit__course(void)
{
    if (PyType_Ready(&KernelType) < 0)
        return NULL;
    if (builtin_sum == NULL) {
        PyObject *builtins = PyImport_ImportModule("builtins");
        if (builtins == NULL)
            return NULL;
        builtin_sum = PyObject_GetAttrString(builtins, "sum");
        Py_DECREF(builtins);
        if (builtin_sum == NULL)
            return NULL;
    }
    PyObject *m = PyModule_Create(&course_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&KernelType);
    if (PyModule_AddObject(m, "Kernel", (PyObject *)&KernelType) < 0) {
        Py_DECREF(&KernelType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
