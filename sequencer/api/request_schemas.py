"""Request bodies of ``POST /v1/recommendations``, derived from the vocabulary.

The open lists (resistance mechanisms, contraindications) come from the loaded priors'
``vocabulary.yaml``, so ``recommendation_request(vocabulary)`` builds the request type when the
app is created: the OpenAPI schema and the 422 messages name exactly the values the model knows.
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from sequencer.vocabulary import (
    ECOG,
    HER2_IHC,
    LINES,
    MAX_LINE,
    AlterationSource,
    Her2Ihc,
    Her2Ish,
    ObjectiveId,
    Vocabulary,
)


def one_of(values: tuple[str, ...]) -> Any:
    """The ``Literal`` type of ``values`` (a request field that accepts exactly these)."""
    return Literal[values]


class ObjectiveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: ObjectiveId = "qaly"
    willingness_to_pay: float = Field(30_000.0, ge=0, le=1e7, description="GBP per QALY (nmb)")


class BudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    toxicity: float | None = Field(None, gt=0, le=10,
                                   description="max expected grade >= 3 AE episodes")
    cost: float | None = Field(None, gt=0, le=1e8, description="max discounted cost (GBP)")


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_investigational: bool = False
    baseline_ngs: bool = False
    ctdna_surveillance: bool = False
    rebiopsy_at_progression: bool = False
    discount_rate: float = Field(0.0, ge=0, le=0.2, description="per year; 0 = undiscounted")


class AlterationBase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    source: AlterationSource = "tissue_ngs"


class RecommendationRequest(BaseModel):
    """One patient's state and the question asked (the fields every vocabulary shares; the
    vocabulary's own lists are added by ``recommendation_request``)."""

    model_config = ConfigDict(extra="forbid")
    her2_ihc: Her2Ihc
    her2_ish: Her2Ish | None = None
    pdl1_cps: float = Field(ge=0, le=100)
    msi_high: bool = False
    known_alterations: list[AlterationBase] = Field(default_factory=list)
    current_line: int = Field(ge=LINES[0], le=MAX_LINE)
    prior_regimens: list[str] = Field(default_factory=list, max_length=MAX_LINE)
    contraindications: list[str] = Field(default_factory=list)
    ecog: int = Field(ge=int(ECOG[0].id), le=int(ECOG[-1].id))
    objective: ObjectiveIn = Field(default_factory=ObjectiveIn)
    budget: BudgetIn = Field(default_factory=BudgetIn)
    options: Options = Field(default_factory=Options)

    @model_validator(mode="after")
    def _ish_when_needed(self) -> "RecommendationRequest":
        if self.her2_ihc == HER2_IHC[2].id and self.her2_ish is None:
            raise ValueError("her2_ish: required when her2_ihc is 2+ (positive or negative)")
        return self


def recommendation_request(vocabulary: Vocabulary) -> type[RecommendationRequest]:
    """The request type for ``vocabulary``: alteration names among its mechanisms, each at most
    once; contraindications among its contraindications."""
    mechanisms = vocabulary.mechanism_ids
    contraindications = vocabulary.contraindication_ids
    alteration = create_model("Alteration", __base__=AlterationBase,
                              name=(one_of(mechanisms), ...))
    return create_model(
        "RecommendationRequest", __base__=RecommendationRequest,
        known_alterations=(list[alteration],
                           Field(default_factory=list, max_length=len(mechanisms))),
        # a type built at run time from the vocabulary, which the checker cannot see as a type
        contraindications=(list[one_of(contraindications)],  # type: ignore[misc, arg-type]
                           Field(default_factory=list, max_length=len(contraindications))),
    )
