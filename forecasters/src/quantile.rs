//! Count-distribution quantiles used to turn a predicted rate into p10/p50/p90.

/// Poisson quantiles of `rate` at each of `levels` (ascending, in (0, 1)):
/// the smallest integer k with P(X <= k) >= level, as scipy's `poisson.ppf`.
pub fn poisson_quantiles(rate: f64, levels: &[f64], out: &mut [f64]) {
    debug_assert_eq!(levels.len(), out.len());
    // NaN and non-positive rates give zero counts.
    if rate.is_nan() || rate <= 0.0 {
        out.iter_mut().for_each(|o| *o = 0.0);
        return;
    }
    if rate > 600.0 {
        // exp(-rate) underflows; the normal approximation is accurate at these counts.
        for (o, &l) in out.iter_mut().zip(levels) {
            *o = (rate + normal_quantile(l) * rate.sqrt()).round().max(0.0);
        }
        return;
    }
    let mut pmf = (-rate).exp();
    let mut cdf = pmf;
    let mut k = 0.0_f64;
    for (o, &l) in out.iter_mut().zip(levels) {
        while cdf < l {
            k += 1.0;
            pmf *= rate / k;
            cdf += pmf;
            if pmf == 0.0 && cdf < l {
                // Rounding left the tail short of `l`; stop at the current count.
                break;
            }
        }
        *o = k;
    }
}

/// Standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e+01,
        2.209460984245205e+02,
        -2.759285104469687e+02,
        1.38357751867269e+02,
        -3.066479806614716e+01,
        2.506628277459239e+00,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e+01,
        1.615858368580409e+02,
        -1.556989798598866e+02,
        6.680131188771972e+01,
        -1.328068155288572e+01,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e+00,
        -2.549732539343734e+00,
        4.374664141464968e+00,
        2.938163982698783e+00,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-03,
        3.224671290700398e-01,
        2.445134137142996e+00,
        3.754408661907416e+00,
    ];
    let p_low = 0.02425;
    if p < p_low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - p_low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -normal_quantile(1.0 - p)
    }
}

/// Mean pinball loss of `q` at `level` against `y`.
pub fn pinball(y: f64, q: f64, level: f64) -> f64 {
    let d = y - q;
    (level * d).max((level - 1.0) * d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_quantiles_match_known_values() {
        // scipy.stats.poisson.ppf([0.1, 0.5, 0.9], mu) for mu = 6.6 and 0.3.
        let mut out = [0.0; 3];
        poisson_quantiles(6.6, &[0.1, 0.5, 0.9], &mut out);
        assert_eq!(out, [3.0, 6.0, 10.0]);
        poisson_quantiles(0.3, &[0.1, 0.5, 0.9], &mut out);
        assert_eq!(out, [0.0, 0.0, 1.0]);
        poisson_quantiles(0.0, &[0.1, 0.5, 0.9], &mut out);
        assert_eq!(out, [0.0, 0.0, 0.0]);
        assert!((normal_quantile(0.9) - 1.2815515655).abs() < 1e-8);
        assert!((normal_quantile(0.1) + 1.2815515655).abs() < 1e-8);
    }
}
