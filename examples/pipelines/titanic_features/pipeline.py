# Titanic feature engineering, Kaggle-notebook style
import pandas as pd
import numpy as np

df = pd.read_csv("train.csv")
df = df.drop_duplicates()

# fill missing values
df["Age"] = df["Age"].fillna(df["Age"].median())
df["Embarked"] = df["Embarked"].fillna(df["Embarked"].mode()[0])
df["Fare"] = df["Fare"].fillna(df.groupby("Pclass")["Fare"].transform("median"))

# titles from names
df["Title"] = df["Name"].str.split(",").str[1].str.split(".").str[0].str.strip()
df["Title"] = df["Title"].replace(["Lady", "Countess", "Capt", "Col", "Don", "Dr", "Major", "Rev", "Sir",
                                   "Jonkheer", "Dona"], "Rare")
df["Title"] = df["Title"].replace({"Mlle": "Miss", "Ms": "Miss", "Mme": "Mrs"})

df["Sex"] = df["Sex"].map({"male": 0, "female": 1})
df["AgeBand"] = pd.cut(df["Age"], bins=[0, 12, 18, 35, 60, 120], labels=["child", "teen", "young", "adult", "senior"])
df["FamilySize"] = df["SibSp"] + df["Parch"] + 1
df["IsAlone"] = (df["FamilySize"] == 1).astype(int)
df["HasCabin"] = df["Cabin"].notna().astype(int)
df["Fare"] = df["Fare"].round(2)

df = df.drop(columns=["Name", "Ticket", "Cabin", "SibSp", "Parch"])
