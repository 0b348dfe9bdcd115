"""Train `bed-demand`: daily admissions and midnight census per ward for the
next 14 days, with p10/p50/p90, from the ward's admissions history and its
current census.

No hospital data is available here, so ward histories come from a seeded
generator (documented below); its published anchors:
- Average length of stay 4.5 days, and the mix of stays 56 % medical,
  21.8 % surgical, 22.2 % maternal/neonatal: Weiss AJ, Elixhauser A,
  "Overview of Hospital Stays in the United States, 2012", HCUP Statistical
  Brief #180, AHRQ, October 2014. The ward mix and length-of-stay means below
  are chosen so the hospital-wide mean is ~4.5 days and the mix is near those
  shares.
- Length of stay is right-skewed; it is drawn log-normal with CV 0.9
  (ASSUMPTION, a common choice; not from the brief).
- Weekday patterns (fewer elective surgical admissions at weekends, delayed
  weekend discharges), winter peaks for medicine and paediatrics, and the
  slow drift of demand are ASSUMPTIONS with sizes stated in the card.

Model: one ONNX graph, two GLM heads on the same features of (ward, target
day, recent admission level): the admission rate (Poisson, exp link) and the
daily discharge probability of a patient in the ward (binomial, sigmoid
link). Rust projects the census: survivors of today's patients are
Binomial(C0, prod(1-p)), patients admitted in the window and still present are
Poisson(m_d) with m_d = m_{d-1}(1-p_d) + lambda_d; the census quantiles come
from the convolution of the two.

Run with: forecasters/training/train.sh bed_demand
"""
import datetime as dt

import numpy as np
from scipy.stats import binom, norm, poisson
from sklearn.linear_model import LogisticRegression, PoissonRegressor

import common

SEED = 20261130
VERSION = "1.0.0"
START = dt.date(2022, 1, 1)
DAYS = 4 * 365
BURN_IN = 90
HORIZON = 14
LEVEL_DAYS = 28
LEVELS = [0.1, 0.5, 0.9]
WARDS = ["medicine", "surgery", "icu", "paediatrics", "maternity"]
ADMISSIONS_PER_DAY = {"medicine": 24.0, "surgery": 10.0, "icu": 3.0, "paediatrics": 5.0, "maternity": 9.0}
MEAN_LOS_DAYS = {"medicine": 5.5, "surgery": 4.5, "icu": 3.8, "paediatrics": 3.0, "maternity": 2.5}
DOW = {  # Mon..Sun admission multipliers (assumed)
    "medicine": [1.08, 1.05, 1.03, 1.02, 1.02, 0.90, 0.90],
    "surgery": [1.25, 1.25, 1.20, 1.20, 1.10, 0.50, 0.50],
    "icu": [1.0, 1.0, 1.0, 1.0, 1.0, 0.95, 0.95],
    "paediatrics": [1.05, 1.02, 1.0, 1.0, 1.0, 0.97, 0.96],
    "maternity": [1.0] * 7,
}
WINTER_AMPLITUDE = {"medicine": 0.10, "surgery": -0.05, "icu": 0.05, "paediatrics": 0.15, "maternity": 0.0}
LOS_CV = 0.9
WEEKEND_DISCHARGE_DELAY = 0.35  # share of Sat/Sun discharges that slip to Monday (assumed)
LEVEL_AR, LEVEL_SD = 0.995, 0.01  # daily log-level drift (assumed)

N_FEATURES = len(WARDS) * 7 + len(WARDS) * 2 + 1
FEATURE_NAMES = (
    [f"ward={w};weekday={d}" for w in WARDS for d in ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]]
    + [f"ward={w};{f}_doy" for w in WARDS for f in ("sin", "cos")]
    + ["log_mean_admissions_28d"]
)


def dates(n, first):
    return [first + dt.timedelta(days=i) for i in range(n)]


def simulate(rng):
    """Daily admissions A[w, t] and end-of-day census C[w, t] for DAYS days (after burn-in)."""
    n = DAYS + BURN_IN
    first = START - dt.timedelta(days=BURN_IN)
    ds = dates(n, first)
    dow = np.array([d.weekday() for d in ds])
    doy = np.array([(d.timetuple().tm_yday - 1) / 365.25 for d in ds])
    A = np.zeros((len(WARDS), n), int)
    C = np.zeros((len(WARDS), n), int)
    for w, ward in enumerate(WARDS):
        level = np.zeros(n)
        for t in range(1, n):
            level[t] = LEVEL_AR * level[t - 1] + rng.normal(0, LEVEL_SD)
        season = 1 + WINTER_AMPLITUDE[ward] * np.cos(2 * np.pi * (doy - 15 / 365.25))
        lam = ADMISSIONS_PER_DAY[ward] * np.array(DOW[ward])[dow] * season * np.exp(level)
        A[w] = rng.poisson(lam)
        admit = np.repeat(np.arange(n), A[w])
        s2 = np.log(1 + LOS_CV**2)
        los = np.maximum(1, np.round(rng.lognormal(np.log(MEAN_LOS_DAYS[ward]) - s2 / 2, np.sqrt(s2), len(admit)))).astype(int)
        out = admit + los
        wd = (dow[0] + out) % 7  # weekday of the discharge day
        slip = (wd >= 5) & (rng.random(len(out)) < WEEKEND_DISCHARGE_DELAY)
        out = out + slip * (7 - wd)
        delta = np.zeros(n + 400, int)
        np.add.at(delta, admit, 1)
        np.add.at(delta, out, -1)
        C[w] = np.cumsum(delta)[:n]
    return A[:, BURN_IN:], C[:, BURN_IN:], dates(DAYS, START)


def row_features(w, day, level):
    x = np.zeros(N_FEATURES)
    x[w * 7 + day.weekday()] = 1
    doy = (day.timetuple().tm_yday - 1) / 365.25
    x[35 + 2 * w] = np.sin(2 * np.pi * doy)
    x[35 + 2 * w + 1] = np.cos(2 * np.pi * doy)
    x[45] = level
    return x


def log_level(adm_window):
    return np.log((np.sum(adm_window) + 1.0) / LEVEL_DAYS)


def fit(A, C, ds, t_end):
    """Fits both heads on days < t_end. Returns coefficient matrix [F, 2] and intercepts."""
    X, y = [], []
    for w in range(len(WARDS)):
        for t0 in range(LEVEL_DAYS, t_end):
            lv = log_level(A[w, t0 - LEVEL_DAYS:t0])
            for h in range(min(HORIZON, t_end - t0)):
                X.append(row_features(w, ds[t0 + h], lv))
                y.append(A[w, t0 + h])
    X, y = np.array(X), np.array(y, float)
    adm = PoissonRegressor(alpha=1e-6, max_iter=3000, tol=1e-8).fit(X, y)

    # Discharges on day t among the patients present at the end of day t-1 (LOS >= 1, so
    # same-day admissions are never discharged that day): D_t = C_{t-1} + A_t - C_t.
    Xd, yd, wd = [], [], []
    for w in range(len(WARDS)):
        for t in range(1, t_end):
            present = C[w, t - 1]
            disc = present + A[w, t] - C[w, t]
            x = row_features(w, ds[t], 0.0)
            Xd += [x, x]
            yd += [1, 0]
            wd += [disc, present - disc]
    Xd = np.array(Xd)
    dis = LogisticRegression(C=100.0, max_iter=5000).fit(Xd[:, :45], np.array(yd), sample_weight=np.array(wd, float))
    coef = np.zeros((N_FEATURES, 2))
    coef[:, 0] = adm.coef_
    coef[:45, 1] = dis.coef_[0]
    return coef, np.array([adm.intercept_, dis.intercept_[0]])


def predict_heads(coef, intercept, X):
    eta = X @ coef + intercept
    return np.exp(eta[:, 0]), 1 / (1 + np.exp(-eta[:, 1]))


def census_quantiles(c0, surv, m):
    """Quantiles of Binomial(c0, surv) + Poisson(m); mirrors quantile::census_quantiles in Rust."""
    var = c0 * surv * (1 - surv) + m
    if c0 > 400 or m > 600:
        mean = c0 * surv + m
        return [max(0.0, float(np.round(mean + norm.ppf(a) * np.sqrt(var)))) for a in LEVELS]
    kb = np.arange(c0 + 1)
    pb = binom.pmf(kb, c0, surv)
    kmax = int(np.ceil(m + 12 * np.sqrt(m) + 20))
    pp = poisson.pmf(np.arange(kmax + 1), m)
    cdf = np.cumsum(np.convolve(pb, pp))
    return [float(np.searchsorted(cdf, a)) for a in LEVELS]


def forecast(coef, intercept, w, origin_day, c0, window, horizon):
    lv = log_level(window)
    X = np.array([row_features(w, origin_day + dt.timedelta(days=h), lv) for h in range(horizon)], np.float32)
    lam, p = predict_heads(coef.astype(np.float32), intercept.astype(np.float32), X)
    out, s, m = [], 1.0, 0.0
    for h in range(horizon):
        s *= 1 - p[h]
        m = m * (1 - p[h]) + lam[h]
        qa = [float(poisson.ppf(a, lam[h])) for a in LEVELS]
        qc = census_quantiles(c0, s, m)
        out.append((float(lam[h]), qa, float(c0 * s + m), qc))
    return out


def main():
    rng = np.random.default_rng(SEED)
    A, C, ds = simulate(rng)
    split = DAYS - 365
    coef, intercept = fit(A, C, ds, split)

    res = {w: {"adm": [], "cen": []} for w in WARDS}
    for w, ward in enumerate(WARDS):
        for t0 in range(split, DAYS - HORIZON + 1, 7):
            fc = forecast(coef, intercept, w, ds[t0], int(C[w, t0 - 1]), A[w, t0 - LEVEL_DAYS:t0], HORIZON)
            for h, (lam, qa, mc, qc) in enumerate(fc):
                res[ward]["adm"].append((A[w, t0 + h], qa))
                res[ward]["cen"].append((C[w, t0 + h], qc))

    def scores(pairs):
        y = np.array([p[0] for p in pairs], float)
        q = np.array([p[1] for p in pairs], float)
        return {
            "n": int(len(y)),
            "mae_p50": round(float(np.mean(np.abs(y - q[:, 1]))), 3),
            "mean_pinball": round(float(np.mean([common.pinball(y, q[:, i], a) for i, a in enumerate(LEVELS)])), 3),
            "coverage_10_90": round(float(np.mean((y >= q[:, 0]) & (y <= q[:, 2]))), 4),
            "mean_actual": round(float(y.mean()), 2),
        }

    by_ward = {w: {"admissions": scores(res[w]["adm"]), "census": scores(res[w]["cen"])} for w in WARDS}
    for w in WARDS:
        print(w, by_ward[w])
    overall = {
        "admissions": scores([p for w in WARDS for p in res[w]["adm"]]),
        "census": scores([p for w in WARDS for p in res[w]["cen"]]),
    }

    coef_all, intercept_all = fit(A, C, ds, DAYS)
    model = common.glm_onnx("bed_demand", coef_all, intercept_all, ["exp", "sigmoid"],
                            "Ward admissions rate and daily discharge probability: output[:,0] = lambda, output[:,1] = p")
    mean_los = sum(ADMISSIONS_PER_DAY[w] * MEAN_LOS_DAYS[w] for w in WARDS) / sum(ADMISSIONS_PER_DAY.values())
    card = {
        "task": "Daily admissions and end-of-day census per ward for the next 14 days, quantiles p10/p50/p90",
        "model": "Two GLM heads in one ONNX graph: Poisson admissions rate (exp link) and binomial daily discharge probability (sigmoid link); census = Binomial(C0, prod(1-p)) + Poisson(m_d), quantiles by exact convolution (normal approximation above 400 current patients), computed in Rust",
        "onnx_io": {"input": "features float32 [N, %d]" % N_FEATURES, "output": "output float32 [N, 2] = [admission rate, discharge probability]"},
        "training_data": {
            "kind": "SYNTHETIC: seeded generator in forecasters/training/bed_demand.py (seed %d), %d days x %d wards; no real patients" % (SEED, DAYS, len(WARDS)),
            "period": f"{ds[0]} .. {ds[-1]} (validation model: {ds[0]} .. {ds[split - 1]})",
            "published_statistics_used": [
                "Weiss AJ, Elixhauser A. Overview of Hospital Stays in the United States, 2012. HCUP Statistical Brief #180, AHRQ 2014: mean length of stay 4.5 days; stays 56 % medical, 21.8 % surgical, 22.2 % maternal/neonatal",
            ],
            "generator": {
                "admissions_per_day": ADMISSIONS_PER_DAY, "mean_los_days": MEAN_LOS_DAYS,
                "hospital_mean_los_days": round(mean_los, 2), "los": "log-normal, CV 0.9, rounded, at least 1 day (assumed)",
                "weekday_admission_multipliers_mon_sun": DOW, "winter_amplitude": WINTER_AMPLITUDE,
                "weekend_discharge_delay_share": WEEKEND_DISCHARGE_DELAY, "log_level_drift": {"ar": LEVEL_AR, "sd_per_day": LEVEL_SD},
            },
        },
        "features": {
            "names": FEATURE_NAMES,
            "definition": "ward x weekday one-hot of the target day; ward x sin/cos(2 pi doy), doy=(day_of_year-1)/365.25; log((admissions in the 28 days before the origin + 1)/28). The discharge head does not use the level feature.",
        },
        "validation": {
            "protocol": "model trained on the first 3 years; origins every 7 days over the last year, next 14 days, census at origin known",
            "overall": overall,
            "by_ward": by_ward,
        },
        "limitations": "Synthetic data. The geometric discharge model ignores how long patients have already stayed, so census intervals can be too narrow for wards with long stays; check coverage per ward before use.",
    }
    path = common.save_model(model, "bed-demand", VERSION, card)

    # Parity fixture: ONNX-computed forecast for a few wards/origins.
    rows = []
    for w, t0 in [(0, DAYS - 30), (1, DAYS - 60), (2, DAYS - 100), (4, DAYS - 20)]:
        window = A[w, t0 - LEVEL_DAYS:t0]
        X = np.array([row_features(w, ds[t0] + dt.timedelta(days=h), log_level(window)) for h in range(HORIZON)])
        heads = common.run_onnx(path, X)
        out, s, m = [], 1.0, 0.0
        for h in range(HORIZON):
            lam, p = float(heads[h, 0]), float(heads[h, 1])
            s *= 1 - p
            m = m * (1 - p) + lam
            out.append({"admission_rate": lam, "discharge_prob": p,
                        "admissions_q": [float(poisson.ppf(a, lam)) for a in LEVELS],
                        "census_mean": int(C[w, t0 - 1]) * s + m,
                        "census_q": census_quantiles(int(C[w, t0 - 1]), s, m)})
        rows.append({"ward": WARDS[w], "origin": str(ds[t0]), "census_at_origin": int(C[w, t0 - 1]),
                     "admissions_last_28_days": [int(a) for a in window], "features": X.tolist(), "days": out})
    common.write_fixture("bed_demand.json", {"requests": rows})


if __name__ == "__main__":
    main()
