"""Jobs: ``POST /v1/cohort-studies`` and ``POST /v1/trial-simulations`` answer 202 with a job
id; ``GET`` on the job gives its status, progress and, when done, its results (a cohort
study's are its ``StudySummary``, documented in the OpenAPI schema)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from sequencer.api.jobs.requests import CohortStudyRequest, TrialRequest
from sequencer.simulate.study import StudyError
from sequencer.simulate.summary_schema import StudySummary, describe_errors

router = APIRouter(tags=["jobs"])


class JobOut(BaseModel):
    id: str
    kind: Literal["cohort-study", "trial-simulation"]
    status: Literal["queued", "running", "succeeded", "failed", "interrupted"]
    progress: float
    created: float
    updated: float
    request: dict
    result: dict | None = None
    error: str | None = None
    href: str


class CohortStudyJobOut(JobOut):
    """A cohort study job; its result is the study's ``summary.json`` (``StudySummary``)."""

    kind: Literal["cohort-study"]
    result: StudySummary | None = None


class TrialJobOut(JobOut):
    kind: Literal["trial-simulation"]


_PATHS = {"cohort-study": "/v1/cohort-studies", "trial-simulation": "/v1/trial-simulations"}
_NOT_FOUND = {404: {"description": "no job with this id"}}


def _validated(spec):
    try:
        return spec.validate()
    except StudyError as exc:
        field, _, _ = str(exc).partition(":")
        raise RequestValidationError([{"loc": ("body", field), "msg": str(exc),
                                       "type": "value_error"}]) from None


def _out(request: Request, job) -> JobOut:
    runner = request.app.state.jobs
    result, error = job.result, job.error
    if job.kind == "cohort-study" and result is not None:
        try:
            result = StudySummary.model_validate(result)
        except ValidationError as exc:  # stored by another version of the service
            result, error = None, (f"result: {describe_errors(exc)}; submit the study again "
                                   "to compute it with this version")
    out = CohortStudyJobOut if job.kind == "cohort-study" else TrialJobOut
    return out(id=job.id, kind=job.kind, status=job.status, progress=runner.progress(job),
               created=job.created, updated=job.updated, request=job.request, result=result,
               error=error, href=f"{_PATHS[job.kind]}/{job.id}")


def _get(request: Request, kind: str, job_id: str) -> JobOut:
    job = request.app.state.jobs.store.get(job_id)
    if job is None or job.kind != kind:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job_id: no {kind} {job_id!r}")
    return _out(request, job)


@router.post("/cohort-studies", status_code=202, response_model=CohortStudyJobOut,
             summary="Start a cohort policy study (runs on Ray)")
def start_cohort_study(body: CohortStudyRequest, request: Request) -> CohortStudyJobOut:
    spec = _validated(body.spec())
    if body.reference is not None and body.reference not in spec.all_strategies:
        raise RequestValidationError([{"loc": ("body", "reference"), "type": "value_error",
                                       "msg": f"not one of {list(spec.all_strategies)}"}])
    return _out(request, request.app.state.jobs.submit("cohort-study", body.model_dump()))


@router.get("/cohort-studies/{job_id}", response_model=CohortStudyJobOut, responses=_NOT_FOUND,
            summary="Status, progress and results of a cohort study")
def get_cohort_study(job_id: str, request: Request) -> CohortStudyJobOut:
    return _get(request, "cohort-study", job_id)


@router.post("/trial-simulations", status_code=202, response_model=TrialJobOut,
             summary="Start a simulated sequencing trial (runs on Ray)")
def start_trial(body: TrialRequest, request: Request) -> TrialJobOut:
    _validated(body.spec())
    return _out(request, request.app.state.jobs.submit("trial-simulation", body.model_dump()))


@router.get("/trial-simulations/{job_id}", response_model=TrialJobOut, responses=_NOT_FOUND,
            summary="Status, progress and results of a trial simulation")
def get_trial(job_id: str, request: Request) -> TrialJobOut:
    return _get(request, "trial-simulation", job_id)
