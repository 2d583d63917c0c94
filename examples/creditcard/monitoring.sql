-- What the model owners watch, maintained next to the rewritten views: per country, the training rows,
-- the positive labels (negative sentiment and premium customer) and the means of two inputs. The sentiment
-- is rounded to 3 digits, so a DECIMAL holds it exactly and its mean is maintained by subtraction.
CREATE VIEW training_stats AS
SELECT country, count(*) AS training_rows, sum(label) AS positives,
       avg(subject_length) AS mean_subject_length, avg(CAST(sentiment AS DECIMAL(9, 3))) AS mean_sentiment
FROM training_rows
GROUP BY country;
