"""Train `surgery-duration`: quantiles (p10/p50/p90) of operating-room case
duration (minutes, in-room to out-of-room) from procedure and case features.

No case data is available here, so cases come from a seeded generator:
- Durations are log-normal per procedure: Strum DP, May JH, Vargas LG,
  "Modeling the uncertainty of surgical procedure times: comparison of
  log-normal and normal models", Anesthesiology 2000;92(4):1160-7, and May JH,
  Strum DP, Vargas LG, "Fitting the lognormal distribution to surgical
  procedure times", Decision Sciences 2000;31(1):129-48.
- Surgeon-to-surgeon heterogeneity in means and coefficients of variation
  within a procedure: Dexter F et al., "Estimating surgical case durations and
  making comparisons among facilities", Anesth Analg 2013;116(5):1103-15.
- The procedure medians and log-SDs, the surgeon spread, and the ASA, BMI and
  teaching-case effects are ASSUMPTIONS (typical magnitudes, not from a table).

Model: ridge regression of log duration on the features (mu) plus a log-SD per
procedure (sigma), exported as one ONNX graph with two heads: [mu, sigma]
(identity and exp links). Rust turns them into exp(mu + z_q * sigma).

Run with: forecasters/training/train.sh surgery_duration
"""
import numpy as np
from scipy.stats import norm
from sklearn.linear_model import Ridge

import common

SEED = 20261129
VERSION = "1.0.0"
N = 40_000
# procedure: (median minutes, log-SD): assumed typical values.
PROCEDURES = {
    "lap_cholecystectomy": (80, 0.32),
    "inguinal_hernia_repair": (65, 0.33),
    "lap_appendectomy": (60, 0.35),
    "total_knee_arthroplasty": (115, 0.24),
    "total_hip_arthroplasty": (110, 0.25),
    "colectomy": (190, 0.34),
    "cabg": (260, 0.20),
    "cystoscopy_turbt": (45, 0.45),
}
N_SURGEONS = 30
SURGEONS = [f"S{i + 1:02d}" for i in range(N_SURGEONS)]
PROC_NAMES = list(PROCEDURES)
FEATURE_NAMES = (
    [f"procedure={p}" for p in PROC_NAMES]
    + [f"surgeon={s}" for s in SURGEONS]
    + [f"asa={a}" for a in (1, 2, 3, 4)]
    + ["bmi_ge_35", "teaching_case"]
)
LEVELS = [0.1, 0.5, 0.9]


def generate(rng):
    # Each surgeon does 2-3 of the procedures (a specialty), with a personal speed and spread.
    speciality = [rng.choice(len(PROC_NAMES), size=rng.integers(2, 4), replace=False) for _ in range(N_SURGEONS)]
    speed = rng.normal(0, 0.12, N_SURGEONS)
    spread = np.exp(rng.normal(0, 0.1, N_SURGEONS))
    surgeon = rng.integers(0, N_SURGEONS, N)
    proc = np.array([rng.choice(speciality[s]) for s in surgeon])
    asa = rng.choice(4, size=N, p=[0.15, 0.45, 0.33, 0.07]) + 1
    bmi35 = (rng.random(N) < 0.18).astype(float)
    teaching = (rng.random(N) < 0.4).astype(float)
    med = np.array([PROCEDURES[p][0] for p in PROC_NAMES])[proc]
    sd = np.array([PROCEDURES[p][1] for p in PROC_NAMES])[proc] * spread[surgeon]
    mu = np.log(med) + speed[surgeon] + 0.05 * (asa - 1) + 0.08 * bmi35 + 0.10 * teaching
    minutes = np.exp(mu + sd * rng.standard_normal(N))
    return dict(surgeon=surgeon, proc=proc, asa=asa, bmi35=bmi35, teaching=teaching, minutes=np.round(minutes, 1))


def features(d):
    n = len(d["proc"])
    X = np.zeros((n, len(FEATURE_NAMES)))
    X[np.arange(n), d["proc"]] = 1
    X[np.arange(n), len(PROC_NAMES) + d["surgeon"]] = 1
    X[np.arange(n), len(PROC_NAMES) + N_SURGEONS + d["asa"] - 1] = 1
    X[:, -2] = d["bmi35"]
    X[:, -1] = d["teaching"]
    return X


def main():
    rng = np.random.default_rng(SEED)
    d = generate(rng)
    X = features(d)
    logy = np.log(d["minutes"])
    split = int(N * 0.8)
    ridge = Ridge(alpha=1.0).fit(X[:split], logy[:split])
    resid = logy[:split] - ridge.predict(X[:split])
    log_sd = np.array([np.log(resid[d["proc"][:split] == j].std(ddof=1)) for j in range(len(PROC_NAMES))])

    mu = ridge.predict(X[split:])
    sigma = np.exp(log_sd[d["proc"][split:]])
    q = [np.exp(mu + norm.ppf(a) * sigma) for a in LEVELS]
    yt = d["minutes"][split:]

    def scores(m):
        return {
            "n": int(m.sum()),
            "mae_p50_minutes": round(float(np.mean(np.abs(yt[m] - q[1][m]))), 2),
            "mean_pinball_minutes": round(float(np.mean([common.pinball(yt[m], q[i][m], a) for i, a in enumerate(LEVELS)])), 2),
            "coverage_10_90": round(float(np.mean((yt[m] >= q[0][m]) & (yt[m] <= q[2][m]))), 4),
            "below_p50": round(float(np.mean(yt[m] < q[1][m])), 4),
        }

    allm = np.ones(len(yt), bool)
    overall = scores(allm)
    by_proc = {p: scores(d["proc"][split:] == j) for j, p in enumerate(PROC_NAMES)}
    print("held-out:", overall)

    coef = np.zeros((len(FEATURE_NAMES), 2))
    coef[:, 0] = ridge.coef_
    coef[: len(PROC_NAMES), 1] = log_sd  # sigma depends on the procedure only
    onnx_model = common.glm_onnx("surgery_duration", coef, [ridge.intercept_, 0.0], ["identity", "exp"],
                                 "Log-normal case duration: output[:,0] = mu of log minutes, output[:,1] = sigma")
    card = {
        "task": "Operating-room case duration (minutes), quantiles p10/p50/p90",
        "model": "Ridge regression (alpha=1) of log minutes for mu, log-SD per procedure for sigma; ONNX outputs [mu, sigma]; quantiles exp(mu + z_q sigma), mean exp(mu + sigma^2/2) computed in Rust",
        "onnx_io": {"input": "features float32 [N, %d]" % len(FEATURE_NAMES), "output": "output float32 [N, 2] = [mu, sigma] of log minutes"},
        "training_data": {
            "kind": "SYNTHETIC: seeded generator in forecasters/training/surgery_duration.py (seed %d), %d cases, %d surgeons; no real patients" % (SEED, N, N_SURGEONS),
            "period": "first 80 %% of generated cases (%d)" % split,
            "published_statistics_used": [
                "Strum DP, May JH, Vargas LG. Anesthesiology 2000;92(4):1160-7: surgical procedure times are better modelled as log-normal than normal",
                "May JH, Strum DP, Vargas LG. Decision Sciences 2000;31(1):129-48: log-normal fits of surgical procedure times",
                "Dexter F et al. Anesth Analg 2013;116(5):1103-15: large heterogeneity of means and coefficients of variation of durations",
            ],
            "assumptions": {"procedure_median_minutes_and_log_sd": PROCEDURES, "surgeon_speed_log_sd": 0.12,
                            "surgeon_spread_multiplier_log_sd": 0.1, "asa_per_class": "+5 %", "bmi_ge_35": "+8 %", "teaching_case": "+10 %"},
        },
        "features": {
            "names": FEATURE_NAMES,
            "definition": "procedure one-hot (unknown procedure is an error); surgeon one-hot (an unknown surgeon gets all zeros = the ridge-shrunk average surgeon); ASA class 1-4 one-hot; BMI >= 35; teaching case (resident operating)",
        },
        "validation": {
            "protocol": "held-out last 20 %% of generated cases (%d)" % (N - split),
            "overall": overall,
            "by_procedure": by_proc,
        },
        "limitations": "Synthetic training data; retrain on the hospital's case history. Surgeon-specific spread is not modelled (sigma is per procedure).",
    }
    path = common.save_model(onnx_model, "surgery-duration", VERSION, card)
    pick = list(range(split, split + 10))
    out = common.run_onnx(path, X[pick])
    common.write_fixture("surgery_duration.json", {"rows": [
        {"procedure": PROC_NAMES[d["proc"][i]], "surgeon": SURGEONS[d["surgeon"][i]], "asa": int(d["asa"][i]),
         "bmi_ge_35": bool(d["bmi35"][i]), "teaching_case": bool(d["teaching"][i]), "features": X[i].tolist(),
         "mu": float(out[j, 0]), "sigma": float(out[j, 1]),
         "quantiles": [float(np.exp(float(out[j, 0]) + norm.ppf(a) * float(out[j, 1]))) for a in LEVELS]}
        for j, i in enumerate(pick)]})


if __name__ == "__main__":
    main()
