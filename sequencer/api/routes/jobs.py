"""Jobs: ``POST /v1/cohort-studies`` and ``POST /v1/trial-simulations`` answer 202 with a job
id; ``GET`` on the job gives its status, progress and, when done, its results (a cohort
study's are its ``StudySummary``, documented in the OpenAPI schema)."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from sequencer.api.jobs.requests import CohortStudyRequest, TrialRequest
from sequencer.api.jobs.store import Job
from sequencer.api.schemas import Responses
from sequencer.simulate.study import StudyError
from sequencer.simulate.summary_schema import StudySummary, describe_errors

router = APIRouter(tags=["jobs"])


ResultT = TypeVar("ResultT")


class JobOut(BaseModel, Generic[ResultT]):
    """A job's record as the API shows it; ``ResultT`` is the type of its result."""

    id: str
    kind: Literal["cohort-study", "trial-simulation"]
    status: Literal["queued", "running", "succeeded", "failed", "interrupted"]
    progress: float
    created: float
    updated: float
    request: dict[str, Any]  # the request body as submitted (JSON)
    result: ResultT | None = None
    error: str | None = None
    href: str


class CohortStudyJobOut(JobOut[StudySummary]):
    """A cohort study job; its result is the study's ``summary.json`` (``StudySummary``)."""

    kind: Literal["cohort-study"]


class TrialJobOut(JobOut[dict[str, Any]]):  # the result: the trial's summary (JSON)
    kind: Literal["trial-simulation"]


AnyJobOut = TypeVar("AnyJobOut", CohortStudyJobOut, TrialJobOut)


_PATHS = {"cohort-study": "/v1/cohort-studies", "trial-simulation": "/v1/trial-simulations"}
_NOT_FOUND: Responses = {404: {"description": "no job with this id"}}


def _validated(spec):
    try:
        return spec.validate()
    except StudyError as exc:
        field, _, _ = str(exc).partition(":")
        raise RequestValidationError([{"loc": ("body", field), "msg": str(exc),
                                       "type": "value_error"}]) from None


def _out(request: Request, job: Job, out: type[AnyJobOut]) -> AnyJobOut:
    """``job`` as ``out``, the type of its kind (``CohortStudyJobOut`` for a cohort study)."""
    runner = request.app.state.jobs
    result: StudySummary | dict[str, Any] | None = job.result
    error = job.error
    if job.kind == "cohort-study" and result is not None:
        try:
            result = StudySummary.model_validate(result)
        except ValidationError as exc:  # stored by another version of the service
            result, error = None, (f"result: {describe_errors(exc)}; submit the study again "
                                   "to compute it with this version")
    return out.model_validate({
        "id": job.id, "kind": job.kind, "status": job.status, "progress": runner.progress(job),
        "created": job.created, "updated": job.updated, "request": job.request,
        "result": result, "error": error, "href": f"{_PATHS[job.kind]}/{job.id}"})


def _get(request: Request, kind: str, job_id: str, out: type[AnyJobOut]) -> AnyJobOut:
    job = request.app.state.jobs.store.get(job_id)
    if job is None or job.kind != kind:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job_id: no {kind} {job_id!r}")
    return _out(request, job, out)


@router.post("/cohort-studies", status_code=202, response_model=CohortStudyJobOut,
             summary="Start a cohort policy study (runs on Ray)")
def start_cohort_study(body: CohortStudyRequest, request: Request) -> CohortStudyJobOut:
    spec = _validated(body.spec())
    if body.reference is not None and body.reference not in spec.all_strategies:
        raise RequestValidationError([{"loc": ("body", "reference"), "type": "value_error",
                                       "msg": f"not one of {list(spec.all_strategies)}"}])
    return _out(request, request.app.state.jobs.submit("cohort-study", body.model_dump()),
                CohortStudyJobOut)


@router.get("/cohort-studies/{job_id}", response_model=CohortStudyJobOut, responses=_NOT_FOUND,
            summary="Status, progress and results of a cohort study")
def get_cohort_study(job_id: str, request: Request) -> CohortStudyJobOut:
    return _get(request, "cohort-study", job_id, CohortStudyJobOut)


@router.post("/trial-simulations", status_code=202, response_model=TrialJobOut,
             summary="Start a simulated sequencing trial (runs on Ray)")
def start_trial(body: TrialRequest, request: Request) -> TrialJobOut:
    _validated(body.spec())
    return _out(request, request.app.state.jobs.submit("trial-simulation", body.model_dump()),
                TrialJobOut)


@router.get("/trial-simulations/{job_id}", response_model=TrialJobOut, responses=_NOT_FOUND,
            summary="Status, progress and results of a trial simulation")
def get_trial(job_id: str, request: Request) -> TrialJobOut:
    return _get(request, "trial-simulation", job_id, TrialJobOut)
