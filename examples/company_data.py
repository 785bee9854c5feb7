"""Company input files for the due-diligence example, and the tools that analyse them.

Every figure the example reports is computed here from the files in one directory:

* ``financials.csv`` — one row per year (revenue, costs, balance sheet), ≥ 2 years;
* ``litigation.txt`` — ``case | status | exposure_eur | note`` lines;
* ``contracts.txt`` — ``counterparty | annual_value_eur | expiry | change_of_control``;
* ``headcount.csv`` — one row per employee (hire and termination dates, salary);
* ``market.csv`` — market size and top competitor revenue per year.

Lines starting with ``#`` and blank lines are ignored in the text files.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from actors import TaskContext

FINANCIAL_COLUMNS = (
    "year",
    "revenue",
    "cost_of_goods_sold",
    "operating_expenses",
    "net_income",
    "current_assets",
    "current_liabilities",
    "total_assets",
    "total_liabilities",
    "cash",
)
HEADCOUNT_COLUMNS = ("employee_id", "department", "hire_date", "termination_date", "annual_salary")
MARKET_COLUMNS = ("year", "market_size", "top_competitor_revenue")


class InputError(ValueError):
    """An input file is missing or malformed; the message names the file and line."""


@dataclass(frozen=True)
class Company:
    """The parsed, validated input files."""

    name: str
    financials: list[dict[str, float]]
    cases: list[tuple[str, str, float, str]]
    contracts: list[tuple[str, float, date, bool]]
    employees: list[dict[str, Any]]
    market: list[dict[str, float]]
    as_of: date


def _csv(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        msg = f"{path}: file not found"
        raise InputError(msg)
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            msg = f"{path}: missing column(s) {missing}; expected {list(columns)}"
            raise InputError(msg)
        return list(reader)


def _number(path: Path, line: int, column: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        msg = f"{path}:{line}: column {column!r} is {text!r}, not a number"
        raise InputError(msg) from None


def _date(path: Path, line: int, text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        msg = f"{path}:{line}: {text!r} is not a date (YYYY-MM-DD)"
        raise InputError(msg) from None


def _records(path: Path, fields: int) -> list[tuple[int, list[str]]]:
    if not path.is_file():
        msg = f"{path}: file not found"
        raise InputError(msg)
    out = []
    for n, raw in enumerate(path.read_text().splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in raw.split("|")]
        if len(parts) != fields:
            msg = f"{path}:{n}: expected {fields} '|'-separated fields, got {len(parts)}"
            raise InputError(msg)
        out.append((n, parts))
    return out


def load_company(directory: Path) -> Company:
    """Parse and validate every input file in ``directory``.

    Raises:
        InputError: A file is missing, or a line is malformed (named with its number).
    """
    if not directory.is_dir():
        msg = f"{directory}: not a directory"
        raise InputError(msg)
    fin_path = directory / "financials.csv"
    financials = [
        {c: _number(fin_path, i + 2, c, row[c]) for c in FINANCIAL_COLUMNS}
        for i, row in enumerate(_csv(fin_path, FINANCIAL_COLUMNS))
    ]
    if len(financials) < 2:
        msg = f"{fin_path}: need at least two years of figures, got {len(financials)}"
        raise InputError(msg)
    financials.sort(key=lambda r: r["year"])
    lit_path = directory / "litigation.txt"
    cases = []
    for n, (case, status, exposure, note) in _records(lit_path, 4):
        if status not in ("open", "settled", "closed"):
            msg = f"{lit_path}:{n}: status {status!r} is not open, settled or closed"
            raise InputError(msg)
        cases.append((case, status, _number(lit_path, n, "exposure", exposure), note))
    con_path = directory / "contracts.txt"
    contracts = []
    for n, (party, value, expiry, coc) in _records(con_path, 4):
        if coc not in ("yes", "no"):
            msg = f"{con_path}:{n}: change of control is {coc!r}, not yes or no"
            raise InputError(msg)
        contracts.append(
            (
                party,
                _number(con_path, n, "annual value", value),
                _date(con_path, n, expiry),
                coc == "yes",
            )
        )
    hc_path = directory / "headcount.csv"
    employees = []
    for i, row in enumerate(_csv(hc_path, HEADCOUNT_COLUMNS)):
        line = i + 2
        employees.append(
            {
                "department": row["department"],
                "hired": _date(hc_path, line, row["hire_date"]),
                "left": _date(hc_path, line, row["termination_date"])
                if row["termination_date"]
                else None,
                "salary": _number(hc_path, line, "annual_salary", row["annual_salary"]),
            }
        )
    if not employees:
        msg = f"{hc_path}: no employees listed"
        raise InputError(msg)
    mk_path = directory / "market.csv"
    market = [
        {c: _number(mk_path, i + 2, c, row[c]) for c in MARKET_COLUMNS}
        for i, row in enumerate(_csv(mk_path, MARKET_COLUMNS))
    ]
    market.sort(key=lambda r: r["year"])
    years = {int(r["year"]) for r in financials}
    if not any(int(r["year"]) in years for r in market):
        msg = f"{mk_path}: no year in common with financials.csv"
        raise InputError(msg)
    latest = int(financials[-1]["year"])
    name = directory.name.replace("_", " ").title()
    return Company(name, financials, cases, contracts, employees, market, date(latest, 12, 31))


def _pct(x: float) -> float:
    return round(100 * x, 1)


def _clamp(score: float) -> int:
    return max(0, min(100, round(score)))


def financial_tools(c: Company) -> list[Any]:
    """Tools of the financial agent."""

    def financial_ratios() -> dict[str, Any]:
        """Growth, margins, liquidity and leverage for the latest year, with a risk score."""
        cur, prev = c.financials[-1], c.financials[-2]
        growth = cur["revenue"] / prev["revenue"] - 1
        gross = (cur["revenue"] - cur["cost_of_goods_sold"]) / cur["revenue"]
        net = cur["net_income"] / cur["revenue"]
        current_ratio = cur["current_assets"] / cur["current_liabilities"]
        debt_to_assets = cur["total_liabilities"] / cur["total_assets"]
        prev_net = prev["net_income"] / prev["revenue"]
        score = 20 + 40 * max(0.0, 1.3 - current_ratio) + 60 * max(0.0, debt_to_assets - 0.5)
        score += 25 * max(0.0, prev_net - net) * 10 + (15 if growth < 0 else 0)
        return {
            "year": int(cur["year"]),
            "revenue_eur": cur["revenue"],
            "revenue_growth_pct": _pct(growth),
            "gross_margin_pct": _pct(gross),
            "net_margin_pct": _pct(net),
            "net_margin_change_pts": round(_pct(net) - _pct(prev_net), 1),
            "current_ratio": round(current_ratio, 2),
            "debt_to_assets": round(debt_to_assets, 2),
            "risk_score": _clamp(score),
        }

    return [financial_ratios]


def legal_tools(c: Company) -> list[Any]:
    """Tools of the legal agent."""

    def litigation_exposure() -> dict[str, Any]:
        """Open cases and their total exposure in EUR."""
        open_cases = [x for x in c.cases if x[1] == "open"]
        exposure = sum(x[2] for x in open_cases)
        revenue = c.financials[-1]["revenue"]
        return {
            "open_cases": len(open_cases),
            "open_exposure_eur": exposure,
            "exposure_pct_of_revenue": _pct(exposure / revenue),
            "largest_case": max(open_cases, key=lambda x: x[2])[0] if open_cases else "",
        }

    def contract_review() -> dict[str, Any]:
        """Material contracts with change-of-control clauses or expiring within a year."""
        value = sum(x[1] for x in c.contracts)
        coc = [x for x in c.contracts if x[3]]
        expiring = [x for x in c.contracts if (x[2] - c.as_of).days <= 365]
        coc_share = sum(x[1] for x in coc) / value if value else 0.0
        exposure = sum(x[2] for x in c.cases if x[1] == "open") / c.financials[-1]["revenue"]
        return {
            "contracts": len(c.contracts),
            "change_of_control_contracts": len(coc),
            "change_of_control_value_pct": _pct(coc_share),
            "expiring_within_12_months": len(expiring),
            "risk_score": _clamp(15 + 60 * coc_share + 300 * exposure + 5 * len(expiring)),
        }

    return [litigation_exposure, contract_review]


def hr_tools(c: Company) -> list[Any]:
    """Tools of the HR agent."""

    def headcount_summary() -> dict[str, Any]:
        """Headcount by department, 12-month attrition and average tenure."""
        year_ago = date(c.as_of.year - 1, c.as_of.month, c.as_of.day)
        active = [e for e in c.employees if e["left"] is None or e["left"] > c.as_of]
        left = [e for e in c.employees if e["left"] is not None and year_ago < e["left"] <= c.as_of]
        at_start = [
            e
            for e in c.employees
            if e["hired"] <= year_ago and (e["left"] is None or e["left"] > year_ago)
        ]
        attrition = len(left) / len(at_start) if at_start else 0.0
        tenure = sum((c.as_of - e["hired"]).days for e in active) / 365.25 / max(1, len(active))
        by_dept = Counter(e["department"] for e in active)
        return {
            "headcount": len(active),
            "by_department": dict(sorted(by_dept.items())),
            "leavers_12_months": len(left),
            "attrition_pct": _pct(attrition),
            "average_tenure_years": round(tenure, 1),
            "payroll_eur": round(sum(e["salary"] for e in active)),
            "risk_score": _clamp(10 + 400 * max(0.0, attrition - 0.05)),
        }

    return [headcount_summary]


def market_tools(c: Company) -> list[Any]:
    """Tools of the market agent."""

    def market_position() -> dict[str, Any]:
        """Market share and growth against the market and the top competitor."""
        rev = {int(r["year"]): r["revenue"] for r in c.financials}
        common = [r for r in c.market if int(r["year"]) in rev]
        cur, prev = common[-1], common[-2] if len(common) > 1 else common[-1]
        y, py = int(cur["year"]), int(prev["year"])
        share = rev[y] / cur["market_size"]
        prev_share = rev[py] / prev["market_size"]
        market_growth = cur["market_size"] / prev["market_size"] - 1
        company_growth = rev[y] / rev[py] - 1
        competitor_growth = cur["top_competitor_revenue"] / prev["top_competitor_revenue"] - 1
        return {
            "year": y,
            "market_share_pct": _pct(share),
            "share_change_pts": round(_pct(share) - _pct(prev_share), 2),
            "market_growth_pct": _pct(market_growth),
            "company_growth_pct": _pct(company_growth),
            "top_competitor_growth_pct": _pct(competitor_growth),
            "risk_score": _clamp(25 + 400 * max(0.0, competitor_growth - company_growth)),
        }

    return [market_position]


AREA_WEIGHTS = {"t1": 0.35, "t2": 0.25, "t3": 0.15, "t4": 0.25}
AREA_NAMES = {"t1": "financial", "t2": "legal", "t3": "hr", "t4": "market"}


def risk_tools(_c: Company) -> list[Any]:
    """Tools of the risk agent."""

    def combine_risk_scores(task: TaskContext) -> dict[str, Any]:
        """Weighted overall risk from the four area analyses this task depends on."""
        areas: dict[str, Any] = {}
        total = weight = 0.0
        for tid, result in sorted(task.inputs.items()):
            if not isinstance(result, dict):
                continue
            score = result.get("risk_score")
            w = AREA_WEIGHTS.get(tid, 0.25)
            if isinstance(score, int | float):
                total += w * score
                weight += w
            areas[AREA_NAMES.get(tid, tid)] = result
        overall = _clamp(total / weight) if weight else 0
        level = "high" if overall >= 60 else "medium" if overall >= 35 else "low"
        return {"risk_score": overall, "risk_level": level, "areas": areas}

    return [combine_risk_scores]


def report_tools(c: Company) -> list[Any]:
    """Tools of the report agent."""

    def compile_report(task: TaskContext) -> str:
        """The final due-diligence report in Markdown, from the risk synthesis."""
        risk = next((r for r in task.inputs.values() if isinstance(r, dict)), {})
        figures = risk.get("figures", {}) if isinstance(risk, dict) else {}
        figures = figures if isinstance(figures, dict) else {}
        areas = figures.get("areas", {})
        lines = [
            f"# Due diligence: {c.name}",
            "",
            f"Overall risk: **{figures.get('risk_level', '?')}** "
            f"(score {figures.get('risk_score', '?')}/100)",
            "",
        ]
        for area, analysis in areas.items() if isinstance(areas, dict) else []:
            figs = analysis.get("figures", {}) if isinstance(analysis, dict) else {}
            score = analysis.get("risk_score", "?") if isinstance(analysis, dict) else "?"
            title = area.upper() if len(area) <= 2 else area.capitalize()
            lines.append(f"## {title} (risk {score}/100)")
            for key, value in figs.items() if isinstance(figs, dict) else []:
                if key != "risk_score":
                    lines.append(f"- {key.replace('_', ' ')}: {value}")
            lines.append("")
        return "\n".join(lines).rstrip() + "\n"

    return [compile_report]
