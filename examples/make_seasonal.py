"""Write examples/data/seasonal.csv: three years of daily demand with weekly and yearly seasons.

Deterministic (seeded), so the committed file can be made again: `python examples/make_seasonal.py`.
Lagged features use only earlier days, so no future value leaks into a row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def make(days: int = 3 * 365, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    date = pd.date_range("2022-01-01", periods=days, freq="D")
    t = np.arange(days)
    weekly = 8 * np.sin(2 * np.pi * t / 7)
    yearly = 20 * np.sin(2 * np.pi * t / 365.25)
    trend = 0.02 * t
    demand = 100 + trend + weekly + yearly + rng.normal(0, 4, days)
    frame = pd.DataFrame({"date": date.strftime("%Y-%m-%d"), "demand": demand.round(2)})
    frame["dow_sin"] = np.sin(2 * np.pi * date.day_of_week / 7).round(6)
    frame["dow_cos"] = np.cos(2 * np.pi * date.day_of_week / 7).round(6)
    frame["doy_sin"] = np.sin(2 * np.pi * date.day_of_year / 365.25).round(6)
    frame["doy_cos"] = np.cos(2 * np.pi * date.day_of_year / 365.25).round(6)
    frame["t"] = t
    for lag in (7, 14, 28):  # a week or more back, so a 7-day gap keeps tests honest
        frame[f"lag_{lag}"] = frame["demand"].shift(lag)
    return frame.iloc[28:].reset_index(drop=True)  # drop the rows whose lags are unknown


if __name__ == "__main__":
    out = Path(__file__).resolve().parent / "data" / "seasonal.csv"
    out.parent.mkdir(exist_ok=True)
    make().to_csv(out, index=False)
    print(f"wrote {out}")
