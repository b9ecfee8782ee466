"""HogQL's function allow-list, as the stand-in enforces it.

Source: PostHog's ``posthog/hogql/functions/`` (``mapping.py``, ``aggregations.py`` and the
per-topic modules under ``clickhouse/``: ``arrays.py``, ``conversions.py``, ``datetime.py``,
``json.py``, ``strings.py``), read from the PostHog/posthog repository. Only the *facts*
(which names HogQL accepts and which ClickHouse function each one prints as) are taken;
the data below is written for the stand-in.

Three kinds of entries:

* pass-through names: HogQL prints them unchanged, so ClickHouse runs them as written;
* renamed names: HogQL prints another ClickHouse function (``now`` -> ``now64``,
  ``toFloat`` -> ``accurateCastOrNull(x, 'Float64')``); the stand-in rewrites them the same
  way, so a query behaves in the stand-in as it would on PostHog;
* template functions (``json_agg``, ``split_part``, ...) that HogQL expands into larger
  expressions: the stand-in does not emulate them and answers 400 saying so.

Deliberately absent, because HogQL does not expose them (a query using them fails on
PostHog with ``Unsupported function call``): ``toInt64``, ``toInt64OrNull``,
``toFloat64``, ``toFloat64OrZero``, ``toUInt64`` (HogQL keeps ``_toInt64``/``_toUInt64``
internal), ``parseDateTime64BestEffort``, ``parseDateTime64BestEffortOrNull`` (use
``parseDateTimeBestEffort``), ``quantileExactInclusive``/``quantilesExactInclusive``
(use ``quantile``/``quantileExact``/``quantiles`` or an ``arraySort(groupArray(x))``
interpolation), and every table function (``file``, ``url``, ``s3``, ``remote``,
``numbers``...). Tests that knowingly need one can pass ``extra_functions=`` to
:class:`~standin.StandIn`.

Arity is not checked (ClickHouse reports wrong arities itself).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class FunctionSpec:
    """How a HogQL function is printed for ClickHouse."""

    clickhouse: str
    #: literal SQL arguments appended after the caller's arguments
    suffix_args: tuple[str, ...] = ()


def _names(text: str) -> list[str]:
    return text.split()


# --- pass-through names, grouped as in PostHog's modules -------------------------------

_ARITHMETIC = _names("""
    plus minus multiply divide intDiv intDivOrZero modulo moduloOrZero positiveModulo negate
    abs gcd lcm max2 min2 multiplyDecimal divideDecimal
""")
_COMPARISON_LOGIC = _names("""
    equals notEquals less greater lessOrEquals greaterOrEquals like ilike notLike notILike
    in notIn and or xor not if multiIf
""")
_ARRAYS = _names("""
    empty notEmpty length reverse array range arrayConcat arrayElement has hasAll hasAny
    hasSubstr indexOf arrayCount countEqual arrayEnumerate arrayEnumerateUniq arrayPopBack
    arrayPopFront arrayPushBack arrayPushFront arrayResize arraySlice arraySort arrayUniq
    arrayJoin arrayDifference arrayDistinct arrayEnumerateDense arrayIntersect arrayReduce
    arrayReverse arrayFilter arrayFlatten arrayCompact arrayZip arrayAUC arrayMap arrayFill
    arrayFold arrayWithConstant arraySplit arrayReverseFill arrayReverseSplit arrayRotateLeft
    arrayRotateRight arrayExists arrayAll arrayFirst arrayLast arrayFirstIndex arrayLastIndex
    arrayMin arrayMax arraySum arrayAvg arrayCumSum arrayCumSumNonNegative arrayProduct
    arrayStringConcat
""")
_CONVERSIONS = _names("""
    hex unhex reinterpretAsUInt8 reinterpretAsUInt16 reinterpretAsUInt32 reinterpretAsUInt64
    reinterpretAsInt8 reinterpretAsInt16 reinterpretAsInt32 reinterpretAsInt64
    reinterpretAsFloat32 reinterpretAsFloat64 reinterpretAsUUID accurateCast
    accurateCastOrNull toUUIDOrDefault toString toJSONString toTypeName cityHash64
    UUIDv7ToDateTime toDate toDateTime toDateTime64 isNotNull coalesce assumeNotNull toNullable
""")
_DATETIME = _names("""
    timeZoneOf timeZoneOffset toYear toQuarter toMonth toDayOfYear toDayOfMonth toDayOfWeek
    toHour toMinute toSecond toUnixTimestamp toUnixTimestamp64Milli fromUnixTimestamp64Milli
    toStartOfInterval toStartOfYear toStartOfISOYear toStartOfQuarter toStartOfMonth
    toLastDayOfMonth toMonday toStartOfWeek toStartOfDay toLastDayOfWeek toStartOfHour
    toStartOfMinute toStartOfSecond toStartOfFiveMinutes toStartOfTenMinutes
    toStartOfFifteenMinutes toTime toISOYear toISOWeek toWeek toYearWeek age dateAdd dateSub
    dateDiff date_add timeStampAdd timeStampSub nowInBlock timeSlot toYYYYMM toYYYYMMDD
    toYYYYMMDDhhmmss addYears addMonths addWeeks addDays addHours addMinutes addSeconds
    addQuarters subtractYears subtractMonths subtractWeeks subtractDays subtractHours
    subtractMinutes subtractSeconds subtractQuarters timeSlots formatDateTime dateName
    monthName fromUnixTimestamp yesterday today toTimeZone dateTrunc toIntervalSecond
    toIntervalMinute toIntervalHour toIntervalDay toIntervalWeek toIntervalMonth
    toIntervalQuarter toIntervalYear
""")
_STRINGS = _names("""
    lengthUTF8 leftPad rightPad leftPadUTF8 rightPadUTF8 lower upper lowerUTF8 upperUTF8
    isValidUTF8 toValidUTF8 format reverseUTF8 concat substring substringUTF8
    appendTrailingCharIfAbsent convertCharset base58Encode base58Decode tryBase58Decode
    base64Encode base64Decode tryBase64Decode endsWith startsWith encodeXMLComponent
    decodeXMLComponent extractTextFromHTML ascii concatWithSeparator position
    positionCaseInsensitive positionUTF8 positionCaseInsensitiveUTF8 multiSearchAllPositions
    multiSearchAllPositionsUTF8 multiSearchFirstPosition multiSearchFirstIndex multiSearchAny
    match multiMatchAny multiMatchAnyIndex multiMatchAllIndices multiFuzzyMatchAny
    multiFuzzyMatchAnyIndex multiFuzzyMatchAllIndices extract extractAll
    extractAllGroupsHorizontal extractAllGroupsVertical extractGroups locate ngramDistance
    ngramSearch countSubstrings countSubstringsCaseInsensitive
    countSubstringsCaseInsensitiveUTF8 countMatches countMatchesCaseInsensitive hasToken
    hasTokenCaseInsensitive regexpExtract replace replaceAll replaceOne replaceRegexpAll
    replaceRegexpOne regexpQuoteMeta translate translateUTF8 splitByChar splitByString
    splitByRegexp splitByWhitespace splitByNonAlpha alphaTokens extractAllGroups ngrams tokens
    repeat initcap lpad rpad trimLeft trimRight trim
""")
_MATH = _names("""
    e pi exp log ln exp2 log2 exp10 log10 sqrt cbrt erf erfc lgamma tgamma sin cos tan asin
    acos atan pow power intExp2 intExp10 cosh acosh sinh asinh atanh atan2 hypot log1p sign
    degrees radians factorial width_bucket floor ceil trunc round roundBankers roundToExp2
    roundDuration roundAge roundDown
""")
_MAPS_TUPLES_MISC = _names("""
    map mapFromArrays mapAdd mapSubtract mapPopulateSeries mapContains mapKeys mapValues
    mapContainsKeyLike mapExtractKeyLike mapApply mapFilter mapUpdate
    tuple tupleElement untuple tupleHammingDistance tupleToNameValuePairs tuplePlus tupleMinus
    tupleMultiply tupleDivide tupleNegate tupleMultiplyByNumber tupleDivideByNumber dotProduct
    bitAnd bitOr bitXor bitNot bitShiftLeft bitShiftRight bitRotateLeft bitRotateRight
    bitSlice bitTest bitTestAll bitTestAny bitCount bitHammingDistance
    protocol domain domainWithoutWWW topLevelDomain firstSignificantSubdomain
    cutToFirstSignificantSubdomain port path pathFull queryString fragment
    queryStringAndFragment extractURLParameter extractURLParameters extractURLParameterNames
    encodeURLComponent decodeURLComponent netloc cutWWW cutQueryString cutFragment
    isFinite isInfinite ifNotFinite isNaN bar transform formatReadableDecimalSize
    formatReadableSize formatReadableQuantity formatReadableTimeDelta least greatest
    L1Norm L2Norm LinfNorm LpNorm L1Distance L2Distance LinfDistance LpDistance L1Normalize
    L2Normalize LinfNormalize LpNormalize cosineDistance
    rank dense_rank row_number first_value last_value nth_value lagInFrame leadInFrame
""")
_JSON = _names("""
    isValidJSON JSONHas JSONLength JSONArrayLength JSONType JSONExtract JSONExtractUInt
    JSONExtractInt JSONExtractFloat JSONExtractBool JSONExtractString JSONExtractKey
    JSONExtractKeys JSONExtractRaw JSONExtractArrayRaw JSONExtractKeysAndValues
    JSONExtractKeysAndValuesRaw JSON_VALUE
""")
_AGGREGATIONS = _names("""
    count countIf countDistinct countDistinctIf countMapIf min minIf max maxIf sum sumIf
    sumForEach minForEach avg avgIf avgMap avgMapIf any anyIf stddevPop stddevPopIf
    stddevSamp stddevSampIf varPop varPopIf varSamp varSampIf covarPop covarPopIf covarSamp
    covarSampIf corr groupArray anyHeavy anyHeavyIf anyLast anyLastIf argMin argMinIf argMax
    argMaxIf avgWeighted avgWeightedIf topK groupArrayIf groupUniqArray groupUniqArrayIf
    groupUniqArrayArray groupArrayInsertAt groupArrayMovingAvg groupArrayMovingSum
    groupArraySample groupBitAnd groupBitOr groupBitXor sumMap sumMapIf minMap maxMap
    skewSamp skewPop kurtSamp kurtPop uniq uniqIf uniqExact uniqExactIf uniqHLL12 uniqTheta
    median medianIf medianExact medianExactIf medianExactLow medianExactHigh
    medianExactWeighted medianTiming medianDeterministic medianTDigest medianBFloat16
    quantile quantileIf quantiles quantilesIf quantileExact simpleLinearRegression
    contingency cramersV cramersVBiasCorrected theilsU windowFunnel
""")

# PostHog generates aggregate-combinator names for these bases (aggregations.py):
# each suffix may be followed only by the suffixes listed for it, none repeated.
_COMBINATOR_BASES = ("avg", "sum", "min", "max", "count", "countDistinct", "median")
_COMBINATOR_FOLLOWERS: Mapping[str, tuple[str, ...]] = {
    "If": (),
    "Array": ("If", "OrDefault", "OrNull"),
    "Map": ("If", "OrDefault", "OrNull"),
    "State": ("If", "OrDefault", "OrNull"),
    "Merge": ("If", "OrDefault", "OrNull"),
    "ForEach": ("If", "OrDefault", "OrNull"),
    "OrDefault": ("If",),
    "OrNull": ("If",),
    "ArgMin": ("If", "OrDefault", "OrNull"),
    "ArgMax": ("If", "OrDefault", "OrNull"),
}


def _combinator_names() -> set[str]:
    found: set[str] = set()

    def walk(name: str, used: tuple[str, ...], options: Iterable[str]) -> None:
        for suffix in options:
            if suffix in used:
                continue
            longer = name + suffix
            found.add(longer)
            walk(longer, (*used, suffix), _COMBINATOR_FOLLOWERS[suffix])

    for base in _COMBINATOR_BASES:
        walk(base, (), _COMBINATOR_FOLLOWERS)
    return found


# --- HogQL names printed as a different ClickHouse call --------------------------------

_CAST = "accurateCastOrNull"
_RENAMED: Mapping[str, FunctionSpec] = {
    "now": FunctionSpec("now64"),
    "current_timestamp": FunctionSpec("now64"),
    "current_date": FunctionSpec("today"),
    "isnull": FunctionSpec("isNull"),
    "ifnull": FunctionSpec("ifNull"),
    "nullif": FunctionSpec("nullIf"),
    "isEmpty": FunctionSpec("empty"),
    "isNotEmpty": FunctionSpec("notEmpty"),
    "arrayReverseSort": FunctionSpec("arraySort"),  # sic: HogQL prints arraySort
    "avgArray": FunctionSpec("avgArrayOrNull"),
    "medianArray": FunctionSpec("medianArrayOrNull"),
    "array_agg": FunctionSpec("groupArray"),
    "left": FunctionSpec("leftUTF8"),
    "right": FunctionSpec("rightUTF8"),
    "ltrim": FunctionSpec("trimLeft"),
    "rtrim": FunctionSpec("trimRight"),
    "btrim": FunctionSpec("trim"),
    "date_diff": FunctionSpec("dateDiff"),
    "date_trunc": FunctionSpec("dateTrunc"),
    "date_subtract": FunctionSpec("date_sub"),
    "to_date": FunctionSpec("toDate"),
    "to_char": FunctionSpec("formatDateTime"),
    "make_date": FunctionSpec("makeDate"),
    "make_timestamp": FunctionSpec("makeDateTime"),
    "toModifiedJulianDay": FunctionSpec("toModifiedJulianDayOrNull"),
    "fromModifiedJulianDay": FunctionSpec("fromModifiedJulianDayOrNull"),
    "parseDateTime": FunctionSpec("parseDateTimeOrNull"),
    "parseDateTimeBestEffort": FunctionSpec("parseDateTime64BestEffortOrNull"),
    "toDateTimeUS": FunctionSpec("parseDateTime64BestEffortUSOrNull"),
    "toIntOrZero": FunctionSpec("toInt64OrZero"),
    "toFloatOrZero": FunctionSpec("toFloat64OrZero"),
    "toInt": FunctionSpec(_CAST, ("'Int64'",)),
    "toFloat": FunctionSpec(_CAST, ("'Float64'",)),
    "toFloatOrNull": FunctionSpec(_CAST, ("'Float64'",)),
    "toFloat64OrNull": FunctionSpec(_CAST, ("'Float64'",)),
    "toUUID": FunctionSpec(_CAST, ("'UUID'",)),
    "toBool": FunctionSpec(_CAST, ("'Bool'",)),
    "toNullableString": FunctionSpec(_CAST, ("'Nullable(String)'",)),
}

#: HogQL functions expanded from templates; accepted by PostHog, not by the stand-in.
NOT_EMULATED: frozenset[str] = frozenset(
    _names("""
    json_agg string_agg every md5 split_part date_part date_bin make_interval
    make_timestamptz timezone to_timestamp toDecimal toFloatOrDefault percentile_cont
    percentile_disc generateSeries
""")
)

#: Names HogQL matches case-insensitively (``case_sensitive=False`` in PostHog).
CASE_INSENSITIVE: frozenset[str] = frozenset(
    name.lower()
    for name in _names("""
    count min max sum avg length reverse lower upper concat substring position extract
    replace ascii coalesce isnull ifnull nullif now trim btrim
""")
)


def _build() -> dict[str, FunctionSpec]:
    table: dict[str, FunctionSpec] = {}
    for group in (
        _ARITHMETIC,
        _COMPARISON_LOGIC,
        _ARRAYS,
        _CONVERSIONS,
        _DATETIME,
        _STRINGS,
        _MATH,
        _MAPS_TUPLES_MISC,
        _JSON,
        _AGGREGATIONS,
        sorted(_combinator_names()),
    ):
        for name in group:
            table[name] = FunctionSpec(name)
    table.update(_RENAMED)
    return table


#: HogQL name -> ClickHouse rendering.
HOGQL_FUNCTIONS: Mapping[str, FunctionSpec] = _build()
_BY_LOWER: Mapping[str, FunctionSpec] = {
    name.lower(): spec for name, spec in HOGQL_FUNCTIONS.items() if name.lower() in CASE_INSENSITIVE
}


def lookup(name: str, extra: frozenset[str] = frozenset()) -> FunctionSpec | None:
    """The ClickHouse rendering of HogQL function ``name``, or None when HogQL rejects it."""
    spec = HOGQL_FUNCTIONS.get(name)
    if spec is not None:
        return spec
    spec = _BY_LOWER.get(name.lower())
    if spec is not None:
        return spec
    if name in extra:
        return FunctionSpec(name)
    return None
