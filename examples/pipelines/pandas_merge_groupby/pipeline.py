"""Payroll by region and salary band: a typical pandas notebook-turned-script (clean, filter, merge, apply,
groupby with named aggregations)."""
import numpy as np
import pandas as pd

employees = pd.read_csv("employees.csv", parse_dates=["hired"])
departments = pd.read_csv("departments.csv")

employees["dept_code"] = employees["dept_code"].str.strip().str.upper()
employees = employees[employees["hired"] < "2023-01-01"]
employees = employees.query("salary > 0")

staff = employees.merge(departments, on="dept_code", how="left")
staff["region"] = staff["region"].fillna("unassigned")
staff["band"] = staff["salary"].apply(lambda s: "senior" if s >= 80000 else ("mid" if s >= 50000 else "junior"))

summary = (
    staff.groupby(["region", "band"], as_index=False)
    .agg(headcount=("emp_id", "count"), payroll=("salary", "sum"), avg_salary=("salary", "mean"),
         departments=("dept_code", "nunique"))
)
summary["avg_salary"] = np.round(summary["avg_salary"], 1)
print(summary.sort_values(["region", "band"]).to_string(index=False))
