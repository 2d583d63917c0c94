"""Healthcare label pipeline in the style of the mlinspect/Lester examples: two CSVs with '?' for missing,
merge on ssn, mean complications per age group merged back, a label from a threshold, a county filter."""
import os

import pandas as pd

COUNTY_LIST = ["county2", "county3"]

patients = pd.read_csv(os.path.join("data", "patients.csv"), na_values="?")
histories = pd.read_csv(os.path.join("data", "histories.csv"), na_values="?")
histories = histories[histories["complications"] >= 0]  # negative counts are entry errors

data = patients.merge(histories, on=["ssn"])
complications = data.groupby("age_group").agg(mean_complications=("complications", "mean"))
data = data.merge(complications, on=["age_group"])
data["label"] = data["complications"] > 1.2 * data["mean_complications"]
data = data[["smoker", "last_name", "county", "num_children", "race", "income", "label"]]
data = data[data["county"].isin(COUNTY_LIST)]
print(data.shape)
