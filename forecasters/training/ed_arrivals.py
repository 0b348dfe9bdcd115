"""Train, select and export the `ed-arrivals` forecaster (version 1.2.0): hourly
emergency-department arrivals for the next 168 hours with p10/p50/p90.

One command retrains, runs the rolling-year selection and prints its table:

    forecasters/training/train.sh ed_arrivals          # or: python ed_arrivals.py [--dry-run]

Model (what the Rust side serves, `forecasters/src/ed_arrivals.rs`):

* Calendar part, an ONNX GLM (MatMul + Add + Exp) with two heads over one
  216-wide feature layout: head 0 is the hourly arrival rate of a target hour
  (the 1.1.0 features: hour-of-week, four annual Fourier pairs, seven holiday
  flags, holiday x hour-of-day, linear trend, `uiowa_in_session`); head 1 is
  the expected arrivals of a whole day (day-of-week, the same annual, holiday,
  trend and session terms), used only for the recent-level correction. Rows of
  hours fill the hour columns, rows of days the `dow_*` columns.
* Recent-level correction from the arrivals before the origin: l = ln(A / E),
  A = arrivals of the 28 whole days before the origin's date, E = head 1 summed
  over those days; the rate is multiplied by exp(sign(l) max(|l| - tau, 0)),
  clamped to [0.5, 2] (a dead band: the model's own level is kept while the
  recent weeks are within tau of it, the excess deviation is followed).
* Quantiles: p50 and p90 are Poisson quantiles of the corrected rate (smallest
  k with P(X <= k) >= level). p10 is the Poisson quantile k, or k + 0.01 when
  P(X <= k) is nearer 10 % than P(X < k) is: the interval then leaves ~10 %
  below it instead of ~4 %, which brings 10-90 coverage from ~0.86 (the
  discreteness of the counts) to ~0.82 at a pinball cost below 0.0001.

Selection (printed as a table and stored in the card): three rolling validation
years, 2014-15, 2015-16 and 2016-17, each with origins at every midnight of the
year (Apr 1 - Mar 31), the next 168 hours truncated at the year's end, and a
model trained only on the data before the year's first origin. Decisions are
taken in order, each between the incumbent and a few alternatives; an
alternative replaces the incumbent only if its mean MAE over the three years is
lower, its mean pinball is not higher, and on no single year its MAE is worse
than the incumbent's by more than 0.002 or its pinball by more than 0.0005
(about one standard error of a paired year difference). Of those that pass, the
lowest mean MAE wins. The interval rule is judged on coverage (every year in
0.78-0.86) with pinball not worse by more than 0.0005 on any year.

The feature layout is mirrored by forecasters/src/ed_arrivals.rs and
forecasters/src/calendar.rs; the fixture written at the end
(tests/fixtures/ed_arrivals_1_2_0.json) is compared against the Rust
implementation. The three validation-year models are written to
forecasters/training/validation-models/ed-arrivals-1.2.0-<year>/ so the table
can be rerun in Rust (`forecast-bench`, `careflow forecast backtest`).
"""
import argparse
import csv
import datetime as dt
import json
import os

import numpy as np

import common
from ed_calendar import HOLIDAYS, check_session_rule, holiday_flags, uiowa_in_session

DATA = "/work/shared/benchmarks/ed-arrivals/uihc_ed_arrivals_train.csv"
VERSION = "1.2.0"
TREND_EPOCH = dt.datetime(2013, 7, 1)
N_FOURIER = 4
L2 = 1e-4
HALF_LIFE_DAYS = 730.0
WINDOW_DAYS = 28
CLAMP = (0.5, 2.0)
P10_OFFSET = 0.01
LEVELS = (0.1, 0.5, 0.9)
# Per-year tolerances of the selection rule.
MAE_TOL = 0.002
PINBALL_TOL = 0.0005
COVERAGE_RANGE = (0.78, 0.86)

FEATURE_NAMES = (
    [f"how_{i}" for i in range(168)]
    + [f"{f}{k}_doy" for k in range(1, N_FOURIER + 1) for f in ("sin", "cos")]
    + HOLIDAYS
    + [f"holiday_x_hour_{h}" for h in range(24)]
    + ["trend_years", "uiowa_in_session"]
    + [f"dow_{d}" for d in range(7)]
)
NF = len(FEATURE_NAMES)  # 216
FOURIER = slice(168, 176)
HOL = slice(176, 183)
HOLH = slice(183, 207)
TREND, SESSION = 207, 208
DOW = slice(209, 216)
HOUR_COLS = np.r_[0:168, 176:209]   # used by head 0 (plus Fourier)
DAY_COLS = np.r_[176:183, 207:216]  # used by head 1 (plus Fourier)

YEARS = {
    "2014-15": dt.datetime(2014, 4, 1),
    "2015-16": dt.datetime(2015, 4, 1),
    "2016-17": dt.datetime(2016, 4, 1),
}


# ---------------------------------------------------------------- features

def day_block(d):
    """Fourier, holiday and session values of day d (shared by hour and day rows)."""
    doy = (d.timetuple().tm_yday - 1) / 365.25
    four = []
    for k in range(1, N_FOURIER + 1):
        four += [np.sin(2 * np.pi * k * doy), np.cos(2 * np.pi * k * doy)]
    return four, holiday_flags(d), uiowa_in_session(d)


def trend_years(ts):
    return (ts - TREND_EPOCH).total_seconds() / 3600.0 / (24 * 365.25)


def hour_features(ts):
    """Row of target hour ts (hour columns; dow_* are 0). The first 209 equal 1.1.0's features."""
    d = ts.date()
    x = np.zeros(NF)
    x[d.weekday() * 24 + ts.hour] = 1.0
    four, fl, ses = day_block(d)
    x[FOURIER] = four
    x[HOL] = fl
    if any(fl):
        x[183 + ts.hour] = 1.0
    x[TREND] = trend_years(ts)
    x[SESSION] = ses
    return x


def day_features(d):
    """Row of day d for head 1 (how_* and holiday_x_hour_* are 0; trend at the day's midnight)."""
    x = np.zeros(NF)
    four, fl, ses = day_block(d)
    x[FOURIER] = four
    x[HOL] = fl
    x[TREND] = trend_years(dt.datetime(d.year, d.month, d.day))
    x[SESSION] = ses
    x[209 + d.weekday()] = 1.0
    return x


def load():
    ts, y, flags = [], [], []
    with open(DATA) as f:
        for r in csv.DictReader(f):
            d = dt.date.fromisoformat(r["date"])
            ts.append(dt.datetime(d.year, d.month, d.day, int(r["hour"])))
            y.append(float(r["arrivals"]))
            flags.append([int(r[h]) for h in HOLIDAYS])
    return ts, np.array(y), np.array(flags)


# ---------------------------------------------------------------- fitting

def newton_poisson(X, y, w, l2=L2, iters=100, tol=1e-10):
    """Poisson GLM with log link and intercept (Newton-IRLS), minimising
    sum_i w_i (mu_i - y_i eta_i) / sum_i w_i + l2/2 |beta|^2 (intercept unpenalised):
    the objective of sklearn's PoissonRegressor(alpha=l2), solved exactly."""
    n, p = X.shape
    w = w / w.sum()
    A = np.hstack([X, np.ones((n, 1))])
    pen = np.full(p + 1, l2)
    pen[-1] = 0.0
    b = np.zeros(p + 1)
    b[-1] = np.log(np.sum(w * y))
    for _ in range(iters):
        mu = np.exp(A @ b)
        g = A.T @ (w * (mu - y)) + pen * b
        H = (A * (w * mu)[:, None]).T @ A + np.diag(pen + 1e-12)
        step = np.linalg.solve(H, g)
        b -= step
        if np.max(np.abs(step)) < tol:
            break
    return b[:-1], b[-1]


def recency(n_units, units_per_day, half_life_days):
    """Weight 0.5^(age_days / half_life) of the last n_units rows (age 0 = the last)."""
    if not half_life_days:
        return np.ones(n_units)
    age = (n_units - 1 - np.arange(n_units)) / units_per_day
    return 0.5 ** (age / half_life_days)


class Data:
    def __init__(self):
        self.ts, self.y, csv_flags = load()
        calc = np.array([holiday_flags(t.date()) for t in self.ts])
        assert (calc == csv_flags).all(), "calendar holiday rule disagrees with the CSV flags"
        check_session_rule()
        assert self.ts[0].hour == 0 and len(self.ts) % 24 == 0
        self.X = np.array([hour_features(t) for t in self.ts])
        self.days = [self.ts[i].date() for i in range(0, len(self.ts), 24)]
        self.XD = np.array([day_features(d) for d in self.days])
        self.yd = self.y.reshape(-1, 24).sum(1)
        self.start = self.ts[0]

    def idx(self, t):
        return int((t - self.start).total_seconds() // 3600)


def recipe_columns(recipe, span_years):
    """Feature columns a recipe fits, given the years of training data before the origin."""
    long_enough = span_years >= recipe.get("min_years", 0.0)
    use_fourier = recipe["fourier"] and long_enough
    use_trend = recipe["trend"] and long_enough
    hour = list(range(168)) + list(range(176, 207))
    day = list(range(176, 183)) + list(range(209, 216))
    extra = []
    if use_fourier:
        extra += list(range(168, 176))
    if use_trend:
        extra.append(TREND)
    if recipe["session"]:
        extra.append(SESSION)
    return sorted(hour + extra), sorted(day + extra)


def fit_recipe(data, recipe, first_origin):
    """Fits both heads on the data before first_origin; returns W [216, 2], B [2]."""
    oi = data.idx(first_origin)
    span = (first_origin - data.start).days / 365.25
    hcols, dcols = recipe_columns(recipe, span)
    hl = recipe.get("half_life_days", HALF_LIFE_DAYS)
    W = np.zeros((NF, 2))
    B = np.zeros(2)
    c, b = newton_poisson(data.X[:oi][:, hcols], data.y[:oi], recency(oi, 24.0, hl))
    W[hcols, 0], B[0] = c, b
    od = oi // 24
    c, b = newton_poisson(data.XD[:od][:, dcols], data.yd[:od], recency(od, 1.0, hl))
    W[dcols, 1], B[1] = c, b
    return W, B


def peer_fit_predict(data, first_origin):
    """The plainest peer: Poisson GLM on hour-of-week, month, holidays and trend, unweighted."""
    n = len(data.ts)
    P = np.zeros((n, 168 + 12 + 7 + 1))
    P[:, :168] = data.X[:, :168]
    P[np.arange(n), 168 + np.array([t.month for t in data.ts]) - 1] = 1.0
    P[:, 180:187] = data.X[:, HOL]
    P[:, 187] = data.X[:, TREND]
    oi = data.idx(first_origin)
    c, b = newton_poisson(P[:oi], data.y[:oi], np.ones(oi))
    return np.exp(P @ c + b)


# ---------------------------------------------------------------- serving rules (mirrored in Rust)

def level_correction(A, E, dead_band):
    """Multiplier of the rates from A (observed) and E (head-1 expected) arrivals of the window."""
    if dead_band is None:
        return 1.0
    with np.errstate(divide="ignore"):
        l = np.log(A / E)
    c = np.exp(np.sign(l) * max(abs(l) - dead_band, 0.0)) if np.isfinite(l) else (CLAMP[0] if l < 0 else CLAMP[1])
    return float(min(max(c, CLAMP[0]), CLAMP[1]))


def poisson_quantiles(rate, p10_rule):
    """p10/p50/p90 of Poisson(rate), vectorised, with the same recurrence as
    forecasters/src/quantile.rs (pmf_k = pmf_{k-1} rate / k, cdf summed in order)."""
    rate = np.asarray(rate, dtype=np.float64)
    assert np.all((rate > 0) & (rate <= 600)), "rates outside the exact Poisson path"
    pmf = np.exp(-rate)
    cdf = pmf.copy()
    k = np.zeros_like(rate)
    out = []
    prev_cdf = np.zeros_like(rate)  # P(X <= k-1) at the stopping point
    for level in LEVELS:
        while True:
            need = cdf < level
            if not need.any():
                break
            k = np.where(need, k + 1, k)
            newpmf = np.where(need, pmf * (rate / np.maximum(k, 1)), pmf)
            pmf = newpmf
            cdf = np.where(need, cdf + pmf, cdf)
        prev_cdf = cdf - pmf
        q = k.copy()
        if level == 0.1 and p10_rule == "nearest_tail":
            q = np.where(np.abs(cdf - 0.1) < np.abs(0.1 - prev_cdf), k + P10_OFFSET, k)
        out.append(q)
    return out


def pinball(y, q, a):
    d = y - q
    return np.maximum(a * d, (a - 1) * d)


def scores(yt, q10, q50, q90):
    return {
        "n": int(len(yt)),
        "mae_p50": round(float(np.mean(np.abs(yt - q50))), 4),
        "mean_pinball": round(float(np.mean((pinball(yt, q10, 0.1) + pinball(yt, q50, 0.5) + pinball(yt, q90, 0.9)) / 3)), 4),
        "coverage_10_90": round(float(np.mean((yt >= q10) & (yt <= q90))), 4),
    }


def rolling_pairs(data, first_origin):
    """(origin index, target index) of every midnight origin of the year, next 168 h truncated at its end."""
    oi = data.idx(first_origin)
    ei = min(data.idx(first_origin.replace(year=first_origin.year + 1)), len(data.ts))
    org, tgt = [], []
    for o in range(oi, ei, 24):
        n = min(168, ei - o)
        org.append(np.full(n, o))
        tgt.append(np.arange(o, o + n))
    return np.concatenate(org), np.concatenate(tgt)


def evaluate(data, W, B, first_origin, dead_band, p10_rule, rate_fn=None):
    """Rolling-origin scores of one validation year; rates from the ONNX-equivalent float64 GLM."""
    org, tgt = rolling_pairs(data, first_origin)
    rate = np.exp(data.X[tgt] @ W[:, 0] + B[0]) if rate_fn is None else rate_fn[tgt]
    if dead_band is not None:
        Ed = np.exp(data.XD @ W[:, 1] + B[1])
        mult = {}
        for o in np.unique(org):
            od = o // 24
            lo = od - WINDOW_DAYS
            assert lo >= 0
            mult[o] = level_correction(data.yd[lo:od].sum(), Ed[lo:od].sum(), dead_band)
        rate = rate * np.array([mult[o] for o in org])
    q10, q50, q90 = poisson_quantiles(rate, p10_rule)
    return scores(data.y[tgt], q10, q50, q90)


# ---------------------------------------------------------------- selection

BASE_1_1_0 = {"fourier": True, "trend": True, "session": True, "min_years": 0.0}


def candidate(name, recipe, dead_band=None, p10_rule="poisson"):
    return {"name": name, "recipe": recipe, "dead_band": dead_band, "p10_rule": p10_rule}


class Runner:
    def __init__(self, data):
        self.data = data
        self.fits = {}
        self.results = {}

    def fit(self, recipe, year):
        key = (json.dumps(recipe, sort_keys=True), year)
        if key not in self.fits:
            self.fits[key] = fit_recipe(self.data, recipe, YEARS[year])
        return self.fits[key]

    def run(self, cand):
        if cand["name"] in self.results:
            return self.results[cand["name"]]
        per_year = {}
        for year, origin in YEARS.items():
            if cand["recipe"] == "peer":
                rate = peer_fit_predict(self.data, origin)
                per_year[year] = evaluate(self.data, None, None, origin, None, cand["p10_rule"], rate_fn=rate)
            else:
                W, B = self.fit(cand["recipe"], year)
                per_year[year] = evaluate(self.data, W, B, origin, cand["dead_band"], cand["p10_rule"])
        mean = {k: round(float(np.mean([per_year[y][k] for y in YEARS])), 4) for k in ("mae_p50", "mean_pinball", "coverage_10_90")}
        res = {"per_year": per_year, "mean": mean}
        self.results[cand["name"]] = res
        print(row_text(cand["name"], res), flush=True)
        return res


def row_text(name, res):
    cells = ["%.4f / %.4f / %.3f" % (s["mae_p50"], s["mean_pinball"], s["coverage_10_90"]) for s in res["per_year"].values()]
    m = res["mean"]
    return "%-52s %s | mean %.4f / %.4f / %.3f" % (name, "  ".join(cells), m["mae_p50"], m["mean_pinball"], m["coverage_10_90"])


def passes(res, inc):
    """The rule for a model change (see the module docstring)."""
    if not (res["mean"]["mae_p50"] < inc["mean"]["mae_p50"] and res["mean"]["mean_pinball"] <= inc["mean"]["mean_pinball"]):
        return False
    for y in YEARS:
        a, b = res["per_year"][y], inc["per_year"][y]
        if a["mae_p50"] > b["mae_p50"] + MAE_TOL or a["mean_pinball"] > b["mean_pinball"] + PINBALL_TOL:
            return False
    return True


def interval_passes(res, inc):
    for y in YEARS:
        a, b = res["per_year"][y], inc["per_year"][y]
        if not (COVERAGE_RANGE[0] <= a["coverage_10_90"] <= COVERAGE_RANGE[1]):
            return False
        if a["mean_pinball"] > b["mean_pinball"] + PINBALL_TOL or a["mae_p50"] != b["mae_p50"]:
            return False
    return True


def select(runner):
    log = []
    print("rolling validation years (MAE p50 / mean pinball / 10-90 coverage):", "  ".join(YEARS), flush=True)
    refs = {
        "peer GLM (hour-of-week, month, holidays, trend; unweighted)": candidate("peer GLM (hour-of-week, month, holidays, trend; unweighted)", "peer"),
        "1.0.0 recipe": candidate("1.0.0 recipe", dict(BASE_1_1_0, session=False)),
    }
    for c in refs.values():
        runner.run(c)
    inc = candidate("1.1.0 recipe", BASE_1_1_0)
    inc_res = runner.run(inc)

    def decide(what, alternatives, rule=passes):
        nonlocal inc, inc_res
        best = None
        outcome = []
        for alt in alternatives:
            r = runner.run(alt)
            ok = rule(r, inc_res)
            outcome.append({"candidate": alt["name"], "passes": ok, "mean": r["mean"]})
            if ok and (best is None or r["mean"]["mae_p50"] < runner.results[best["name"]]["mean"]["mae_p50"]):
                best = alt
        verdict = f"kept {inc['name']}" if best is None else f"took {best['name']}"
        log.append({"decision": what, "incumbent": inc["name"], "alternatives": outcome, "verdict": verdict})
        print(f"  -> {what}: {verdict}", flush=True)
        if best is not None:
            inc, inc_res = best, runner.results[best["name"]]

    # 1. Annual terms and trend need at least one year of data (the 2014-15 model sees nine months).
    decide("training-length rule", [candidate("+ annual terms and trend only with >= 1 year of data", dict(BASE_1_1_0, min_years=1.0))])
    # 2. Recent-level correction from the 28 days before the origin, dead band tau.
    rec = inc["recipe"]
    decide("recent-level correction", [candidate(f"+ 28-day level correction, dead band {t:g}", rec, t) for t in (0.0, 0.02, 0.03, 0.04, 0.05)])
    # 3. The 1.1.0 academic-calendar flag, which hurt the unseen year.
    decide("uiowa_in_session", [candidate(f"{inc['name']}, without uiowa_in_session", dict(inc["recipe"], session=False), inc["dead_band"])])
    # 4. Recency weighting half-life.
    decide("recency half-life", [candidate(f"{inc['name']}, half-life {h} d", dict(inc["recipe"], half_life_days=h), inc["dead_band"]) for h in (365, 1095)])
    # 5. Interval rule (judged on coverage; MAE is unchanged by construction).
    decide("interval rule", [dict(inc, name=inc["name"] + ", p10 nearest-tail", p10_rule="nearest_tail")], rule=interval_passes)
    return inc, log


# ---------------------------------------------------------------- export

def onnx_model(W, B, doc):
    return common.glm_onnx("ed_arrivals", W, B, ["exp", "exp"], doc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dry-run", action="store_true", help="only print the selection table")
    args = ap.parse_args()
    data = Data()
    runner = Runner(data)
    chosen, log = select(runner)
    print("chosen:", chosen["name"], flush=True)
    chosen_res = runner.results[chosen["name"]]
    if args.dry_run:
        return
    if chosen["dead_band"] is None or chosen["p10_rule"] != "nearest_tail":
        raise SystemExit("the Rust side serves the history-corrected, nearest-tail 1.2.0 model only; update ed_arrivals.rs first")

    serving = {
        "level_correction": {"window_days": WINDOW_DAYS, "dead_band": chosen["dead_band"], "clamp": list(CLAMP)},
        "p10_rule": "nearest_tail",
        "p10_offset": P10_OFFSET,
    }
    val_root = os.path.join(common.ROOT, "forecasters", "training", "validation-models")
    for year, origin in YEARS.items():
        W, B = runner.fit(chosen["recipe"], year)
        last = (origin - dt.timedelta(days=1)).date().isoformat()
        common.save_model(
            onnx_model(W, B, f"ed-arrivals {VERSION} validation model (trained to {last})"),
            "ed-arrivals", f"{VERSION}-validation-{year}",
            {"purpose": f"validation only: the {VERSION} recipe trained on {data.start.date()}T00..{last}T23 for the rolling year {year}; not for serving",
             "features": {"names": FEATURE_NAMES}, "serving": serving, "validation": chosen_res["per_year"][year]},
            out_dir=os.path.join(val_root, f"ed-arrivals-{VERSION}-{year}"),
        )

    # Served model: the chosen recipe on all of the training file.
    end = data.ts[-1] + dt.timedelta(hours=1)
    W, B = fit_recipe(data, chosen["recipe"], end)
    model = onnx_model(W, B, "ed-arrivals 1.2.0: head 0 hourly arrival rate (hour rows), head 1 expected arrivals of a day (day rows)")
    table = {name: runner.results[name] for name in runner.results}
    card = {
        "task": "Hourly emergency-department arrivals for the next 168 hours; quantiles p10/p50/p90",
        "model": ("Poisson GLM, two heads (hourly rate; daily total) exported as MatMul+Add+Exp, L2 %g, training rows weighted 0.5^(age_days/%g); "
                  "rates multiplied by a recent-level correction from the 28 days before the origin; Poisson quantiles with the nearest-tail p10 (computed in Rust)") % (L2, HALF_LIFE_DAYS),
        "onnx_io": {"input": "features float32 [N, %d] (hour rows or day rows)" % NF,
                    "output": "output float32 [N, 2]: [:, 0] hourly arrival rate of an hour row, [:, 1] expected arrivals of a day row"},
        "needs_history": "the hourly arrivals of the 28 whole days before the origin's date (and of the origin's day up to the origin); a forecast without them is an error",
        "serving": serving,
        "training_data": {
            "file": "shared/benchmarks/ed-arrivals/uihc_ed_arrivals_train.csv (UIHC ED arrivals, R package fastTS, GPL-3)",
            "period": f"{data.start.date()}T00 .. {data.ts[-1].strftime('%Y-%m-%dT%H')}",
            "rows": len(data.ts),
        },
        "features": {
            "names": FEATURE_NAMES,
            "hour_rows": "how_i: one-hot of weekday(Mon=0)*24+hour; sin/cos k*2pi*doy with doy=(day_of_year-1)/365.25; holiday flags from the calendar rule (Dec 25, Dec 26, Dec 31, Jan 1, 4th Thu of Nov and the day after, Jul 4); holiday_x_hour_h = any holiday and hour==h; trend_years = hours since 2013-07-01T00 / 8766; uiowa_in_session (see 1.1.0's card); dow_* = 0. The first 209 columns are the 1.1.0 layout.",
            "day_rows": "how_* and holiday_x_hour_* = 0; sin/cos, holidays and uiowa_in_session of the day; trend_years at the day's 00:00; dow_d = one-hot of the weekday (Mon=0)",
            "recipe": chosen["recipe"],
            "level_correction": "l = ln(A/E), A = arrivals of the 28 whole days before the origin's date, E = sum of head 1 over those days; rate *= clamp(exp(sign(l)*max(|l|-dead_band, 0)), 0.5, 2)",
            "quantiles": "p50, p90: smallest k with P(X<=k) >= level, X ~ Poisson(corrected rate). p10: that k for level 0.1, or k+0.01 when |P(X<=k)-0.1| < |0.1-P(X<k)| (the lower tail left out of the interval is then nearer the nominal 10 %)",
        },
        "selection": {
            "protocol": "three rolling validation years 2014-15, 2015-16, 2016-17: origins at every midnight from Apr 1 to Mar 31, next 168 h truncated at Mar 31T23; each year's model trained only on the data before its first origin (from 2013-07-01: 0.75, 1.75 and 2.75 years)",
            "rule": ("decisions in order, each between the incumbent and a few alternatives; an alternative replaces the incumbent only if its mean MAE over the three years is lower, "
                     "its mean pinball not higher, and on no single year its MAE is worse by more than %g or its pinball by more than %g; of those passing, the lowest mean MAE wins. "
                     "The interval rule is judged on coverage (each year within %g-%g) with pinball not worse by more than %g on any year.") % (MAE_TOL, PINBALL_TOL, COVERAGE_RANGE[0], COVERAGE_RANGE[1], PINBALL_TOL),
            "decisions": log,
            "chosen": chosen["name"],
            "table_mae_pinball_coverage": {name: {**{y: "%.4f / %.4f / %.3f" % (r["per_year"][y]["mae_p50"], r["per_year"][y]["mean_pinball"], r["per_year"][y]["coverage_10_90"]) for y in YEARS},
                                                  "mean": "%.4f / %.4f / %.3f" % (r["mean"]["mae_p50"], r["mean"]["mean_pinball"], r["mean"]["coverage_10_90"])}
                                           for name, r in table.items()},
            "chosen_per_year": chosen_res["per_year"],
            "chosen_mean": chosen_res["mean"],
            "validation_models": "forecasters/training/validation-models/ed-arrivals-1.2.0-{2014-15,2015-16,2016-17}",
        },
        "targets_on_heldout_year": {"mae_p50": "< 2.020", "mean_pinball": "< 0.634", "coverage_10_90": "0.78-0.86"},
        "peers_on_heldout_year": {"poisson_glm_month": "2.029 / 0.636 / 0.858", "lightgbm_quantile": "2.050 / 0.642 / 0.789",
                                  "ed-arrivals 1.1.0": "2.034 / 0.637 / 0.860", "ed-arrivals 1.0.0": "2.030 / 0.637 / 0.858"},
        "limitations": "Not evaluated on the held-out year 2017-04-01..2018-03-31 (not available here). The correction follows only level deviations beyond the dead band: a drift smaller than that is not corrected. Football home games are not modelled; the academic-calendar rule must be checked if the university changes its calendar.",
    }
    path = common.save_model(model, "ed-arrivals", VERSION, card)
    write_fixture(data, path, W, B, serving)


def write_fixture(data, path, W, B, serving):
    """Parity fixture: for a few origins, the 28 days of history, day and hour feature rows,
    the ONNX outputs, the correction and the forecast (rate, p10, p50, p90) of 168 hours."""
    dead_band = serving["level_correction"]["dead_band"]
    origins = [dt.datetime(2014, 4, 1), dt.datetime(2015, 2, 14, 0), dt.datetime(2016, 11, 20, 7),
               dt.datetime(2016, 12, 24, 0), dt.datetime(2017, 3, 25, 13)]
    cases = []
    for origin in origins:
        oi = data.idx(origin)
        first_day = dt.datetime.combine(origin.date(), dt.time()) - dt.timedelta(days=WINDOW_DAYS)
        hi = data.idx(first_day)
        history = data.y[hi:oi]
        days = [first_day.date() + dt.timedelta(days=i) for i in range(WINDOW_DAYS)]
        XD = np.array([day_features(d) for d in days])
        tgt = [origin + dt.timedelta(hours=h) for h in range(168)]
        XH = np.array([hour_features(t) for t in tgt])
        out_d = common.run_onnx(path, XD)[:, 1].astype(np.float64)
        out_h = common.run_onnx(path, XH)[:, 0].astype(np.float64)
        A = float(history[: WINDOW_DAYS * 24].sum())
        E = float(out_d.sum())
        c = level_correction(A, E, dead_band)
        rate = out_h * c
        q10, q50, q90 = poisson_quantiles(rate, "nearest_tail")
        cases.append({
            "origin": origin.strftime("%Y-%m-%dT%H"),
            "history": history.tolist(),
            "day_features": {"days": [d.isoformat() for d in days[:3]] + [days[-1].isoformat()], "rows": XD[[0, 1, 2, -1]].tolist()},
            "day_expected": out_d.tolist(),
            "hour_features": XH[[0, 1, 30, 100, 167]].tolist(),
            "hour_features_at": [0, 1, 30, 100, 167],
            "observed": A, "expected": E, "correction": c,
            "rate": rate.tolist(), "p10": q10.tolist(), "p50": q50.tolist(), "p90": q90.tolist(),
        })
    assert any(abs(c["correction"] - 1.0) > 1e-9 for c in cases) and any(c["correction"] == 1.0 for c in cases), [c["correction"] for c in cases]
    common.write_fixture("ed_arrivals_1_2_0.json", {"version": VERSION, "serving": serving, "cases": cases})


if __name__ == "__main__":
    main()
