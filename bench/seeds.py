"""What the benchmarks share: a figure over seeds as its median and range."""
import statistics


def spread(values: list[float]) -> dict:
    "Median, min and max of a figure over seeds."
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}
