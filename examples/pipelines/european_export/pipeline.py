"""Monthly station summary from a German spreadsheet export: semicolons, decimal commas, 'n/a' and '-' for
missing values, day-first dates, a ZIP code that must stay text, and the result written the same way."""
import pandas as pd

df = pd.read_csv("export/messwerte.csv", sep=";", decimal=",", na_values=["n/a", "-"],
                 parse_dates=["datum"], dayfirst=True,
                 usecols=["station", "plz", "datum", "temp", "niederschlag"], dtype={"plz": str})
stationen = pd.read_csv("export/stationen.csv", sep=";")

df = df.dropna(subset=["temp"])
df = df[df["datum"] >= "2024-01-15"]
df["monat"] = df["datum"].dt.to_period("M").astype(str)
df["plz_region"] = df["plz"].str[:2]
df = df.merge(stationen[["station", "bundesland"]], on="station", how="left")
df["bundesland"] = df["bundesland"].fillna("unbekannt")
df["frost"] = df["temp"] < 0

out = (df.groupby(["bundesland", "station", "plz_region", "monat"], as_index=False)
         .agg(temp_mittel=("temp", "mean"), regen_summe=("niederschlag", "sum"), tage=("datum", "nunique"),
              frosttage=("frost", "sum")))
out["klasse"] = out["temp_mittel"].apply(lambda t: "kalt" if t < 5 else ("mild" if t < 15 else "warm"))
out.to_csv("ergebnis.csv", sep=";", decimal=",", index=False)
