"""Day-ahead electricity demand: LSTM and GRU forecasters against the seasonal-naive forecast.

fpp2's ``elecdemand``: Victoria's half-hourly demand in 2014 (GW), with temperature and a
workday flag. From the previous week (336 half-hours of demand, temperature, workday and the
time of day) and what is known of the next day (its workday flag, time of day and
temperature: the recorded temperatures stand in for a weather forecast, as in fpp2's own
demand models) each model forecasts the next day's 48 half-hours at once. The last 61 days
(November and December) are the test split, the 30 before them validation; the baseline,
computed here on the same test days, is the seasonal-naive forecast: each half-hour's demand
a week earlier. The target is a test MAE at least 20% below the baseline's.

Training windows start at every second half-hour of the training split; validation and test
forecasts are made once a day, at midnight (their first week looks back into the split before).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import Experiment, experiment_args  # noqa: E402

MODELS = ("lstm_forecaster", "gru_forecaster")
LOOKBACK, HORIZON, WEEK = 336, 48, 336
KNOWN_FUTURE = (1, 2, 3, 4)  # temperature, workday, tod_sin, tod_cos: known for the day ahead


def main(argv=None):
    def extra(p):
        p.add_argument("--epochs", type=int, default=12)
        p.add_argument("--past-only", action="store_true", help="no known future inputs (the previous version)")

    args = experiment_args(__doc__, argv, extra=extra)
    exp = Experiment("electricity_forecast", args,
                     claim="A recurrent forecaster of the next day's demand beats the seasonal-naive forecast "
                           "(same half-hour a week earlier) by at least 20% in MAE.")
    import keras
    import numpy as np

    import kerasarch
    from kerasarch.seqdata import load_elecdemand, make_windows

    s = load_elecdemand()
    train, val, test = s.scale(s.train), s.scale(s.val), s.scale(s.test)
    stride = 16 if args.quick else 2
    known = None if args.past_only else KNOWN_FUTURE
    x_train, y_train = make_windows(train, LOOKBACK, HORIZON, stride=stride, known_future=known)
    x_val, y_val = make_windows(val, LOOKBACK, HORIZON, stride=s.period, context=train, known_future=known)
    x_test, y_test = make_windows(test, LOOKBACK, HORIZON, stride=s.period, context=np.concatenate([train, val]),
                                  known_future=known)
    unscale = s.unscale_target
    # Seasonal naive: the demand of the same half-hours one week before each forecast day.
    full = np.concatenate([s.train, s.val, s.test])[:, s.target]
    start = len(s.train) + len(s.val)
    days = len(y_test)
    origins = start + s.period * np.arange(days)  # each test day's first half-hour
    naive = np.stack([full[o - WEEK:o - WEEK + HORIZON] for o in origins])
    truth = unscale(y_test)
    np.testing.assert_allclose(truth, np.stack([full[o:o + HORIZON] for o in origins]), rtol=1e-5, atol=1e-4)
    naive_mae = float(np.abs(naive - truth).mean())
    daily = np.stack([full[o - s.period:o - s.period + HORIZON] for o in origins])
    exp.result.update(windows={"train": len(x_train), "val": len(x_val), "test": len(x_test)},
                      inputs="past week only" if known is None else "past week + the next day's temperature, "
                                                                     "workday and time of day",
                      seasonal_naive_mae_gw=round(naive_mae, 4),
                      daily_naive_mae_gw=round(float(np.abs(daily - truth).mean()), 4))

    runs, forecasts = {}, {}
    for name in MODELS:
        keras.utils.set_random_seed(args.seed)
        model = kerasarch.create_model(name, num_features=x_train.shape[2], horizon=HORIZON, units=32 if args.quick else 64,
                                       dropout=0.1, drop_rate=0.1)
        epochs = 1 if args.quick else args.epochs
        batch = 64
        kerasarch.compile_for_training(model, "adamw", epochs=epochs, steps_per_epoch=-(-len(x_train) // batch),
                                       learning_rate=2e-3, weight_decay=1e-4, warmup=0.05, verbose=False)
        best = os.path.join(exp.out, f"{name}.keras")
        keep = keras.callbacks.ModelCheckpoint(best, monitor="val_loss", mode="min", save_best_only=True)
        history = model.fit(x_train, y_train[..., None], validation_data=(x_val, y_val[..., None]), batch_size=batch,
                            epochs=epochs, callbacks=[keep], verbose=2).history
        model = keras.saving.load_model(best)
        predicted = unscale(model.predict(x_test, batch_size=256, verbose=0)[..., 0])
        mae = float(np.abs(predicted - truth).mean())
        forecasts[name] = predicted
        runs[name] = {"params": int(model.count_params()), "epochs": epochs,
                      "best_epoch": int(np.argmin(history["val_loss"])) + 1,
                      "test_mae_gw": round(mae, 4),
                      "improvement_over_seasonal_naive_pct": round(100 * (1 - mae / naive_mae), 1),
                      "val_loss": [round(float(v), 5) for v in history["val_loss"]]}
    exp.result["runs"] = runs

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.5))
    week = slice(7, 14)  # the second test week, day by day
    hours = np.arange(7 * HORIZON) / 2
    ax.plot(hours, truth[week].ravel(), color="black", label="demand")
    ax.plot(hours, naive[week].ravel(), color="grey", linestyle=":", label="seasonal naive")
    for name, predicted in forecasts.items():
        ax.plot(hours, predicted[week].ravel(), label=name)
    ax.set_xlabel("hours into the week (day-ahead forecasts made at midnight)")
    ax.set_ylabel("GW")
    ax.legend(fontsize=7)
    exp.save_plot(fig, "forecasts.png")

    best = min(runs.values(), key=lambda r: r["test_mae_gw"])
    gain = best["improvement_over_seasonal_naive_pct"]
    verdict = ", ".join(f"{n} {r['test_mae_gw']:.3f} GW ({r['improvement_over_seasonal_naive_pct']:+.1f}%)"
                        for n, r in runs.items())
    exp.finish(f"test MAE {verdict} against the seasonal naive's {naive_mae:.3f} GW: "
               f"{'beats it by' if gain >= 20 else 'misses the 20% target with'} {gain:.1f}%")


if __name__ == "__main__":
    main()
