"""Words LLM cluster labels use interchangeably, grouped into concepts.

The clustering job's LLM names the same usage pattern differently every day
("Small talk" / "Greeting messages", "Document summaries" / "TL;DR of long PDFs").
A stemmer links only forms of one word; this lexicon links the synonyms an LLM
reaches for in a 3-10 word cluster title and its description, for the vocabulary of
LLM products (support bots, coding assistants, RAG, agents, ...).

Each line is `concept: word word multi_word ...` (a concept may take several lines):
the words (any inflection; they are stemmed on load) and `_`-joined phrases all read
as the concept. A word listed as written wins over another word's stem
("transcripts" is a document, "transcriptions" a task, though both stem alike). A word belongs to at
most one concept. Concepts marked `task` name what the traffic asks the model to do,
those marked `language` a programming language: two titles naming disjoint tasks
("Document summaries" / "Document translation") or languages ("Python debugging" /
"JavaScript debugging") describe different usage patterns even when they share
every other word.

Written as general vocabulary and extended only from the tuning half of
tests/data/identity/corpus.yaml, never from its held-out half.
"""

from __future__ import annotations

# fmt: off
CONCEPTS = """
task summarize: summarize summary summarization condense condensed tldr tl_dr recap digest gist
task summarize: synopsis overview abstract key_points
task translate: translate translation translator localize localization locale i18n l10n new_markets
task debug: debug debugging troubleshoot troubleshooting fix diagnose diagnosis traceback
task debug: stack_trace
task generate: generate generation write writing draft drafting compose composing author create
task generate: creation
task extract: extract extraction parse parsing parser structure_data structured pull_out pull
task extract: pulling
task classify: classify classification categorize categorization label labeling
task search: search retrieval retrieve lookup look_up browse browsing research rag
task review: review critique feedback assess assessment evaluate evaluation grade grading flag
task review: flagging screen screening detect detection filter filtering moderate moderation qualify
task review: qualification score scoring rank ranking shortlist shortlisting prioritize
task review: prioritization triage analysis analyze
task book: book booking reserve reservation schedule scheduling reschedule
task recommend: recommend recommendation suggest suggestion picks
task transcribe: transcribe transcription transcriptions speech_to_text dictation
transcript: transcript transcripts
task speak: text_to_speech voiceover narration narrate read_aloud aloud
task optimize: optimize optimization speed_up tune tuning
language python: python
language javascript: javascript js typescript
frontend: frontend browser react console client_side
language java: java kotlin
language golang: golang
language rust: rust
language ruby: ruby rails
greeting: greeting greet hello hi hey small_talk chitchat chit_chat casual banter pleasantries
error: error exception failure crash failing fails broken bug
refund: refund reimbursement money_back chargeback return returned
shipping: shipping shipment delivery parcel package tracking carrier where_is_my_order
password: password passcode credentials account_recovery regain_access locked_account locked_out
password: lockout
login: login signin sign_in log_in authentication authenticate sso
billing: billing bill invoice receipt charge charged payment subscription
human_language: language languages english german spanish french portuguese japanese chinese
ui: ui interface button string strings
code: code script function snippet codebase program
test: test testing unit_test pytest jest test_coverage
pull_request: pull_request pr diff patch merge_request
tool: tool function_call function_calling tool_call api_call
agent: agent agentic autonomous
plan: plan planning multi_step steps subtasks workflow long_horizon
web: web internet website online
spam: spam junk unsolicited scam
abuse: toxic toxicity abusive abuse harassment hate_speech offensive slur insult
jailbreak: jailbreak prompt_injection bypass guardrails ignore_instructions
symptom: symptom ailment urgency urgent
medication: medication drug prescription dosage dose medicine side_effects
appointment: appointment visit
clinic: clinic doctor physician gp
flight: flight airfare airline plane_ticket plane
hotel: hotel accommodation lodging stay rental
itinerary: itinerary trip vacation holiday travel_plan day_by_day
product: product item sku catalog catalogue merchandise
person: user customer shopper buyer client people patient student learner employee staff developer
size: size sizing fit measurements
apparel: apparel clothing clothes garment
social: social social_media linkedin tweet twitter instagram
ad: ad ads advert advertising advertisement promo promotional campaign paid_ads
seo: seo keyword search_ranking
cost: cost costs spend spending expense expenses bookkeeping ledger cost_center transaction
cost: transactions
budget: budget budgeting saving savings money_management monthly_spending
fraud: fraud fraudulent suspicious unrecognized
kubernetes: kubernetes k8s pod pods helm cluster
deployment: deploy deployment rollout release
ci: ci continuous_integration github_actions build_failure
cloud: cloud aws gcp azure infrastructure
reduce: reduce lower lowering cut cutting decrease
audio: audio voice speech spoken recording
smart_home: smart_home device devices hands_free lights thermostat voice_command
explain: explain explanation clarify clarification simplify
convert: convert transform reformat
answer: answer answering respond reply replies response responses
task solve: solve solving solution worked_solution
task compare: compare comparison versus
task quiz: quiz exam practice_question multiple_choice flashcard
task plot: plot chart graph visualize visualization dashboard
task calculate: calculate calculation compute formula
task caption: caption alt_text describe_image
task rewrite: rewrite rephrase paraphrase proofread reword edit editing
task cancel: cancel cancellation unsubscribe terminate
language sql: sql query queries select_statement text_to_sql clickhouse postgres mysql bigquery
database: database schema table tables warehouse
performance: performance slow latency speed faster timeout
document: document doc file pdf whitepaper paperwork manual attachment upload
report: report reports reporting
meeting: meeting call standup transcript_recap minutes
email: email mail inbox newsletter reply_chain email_thread
conversation: chat dialogue thread
thanks: thanks thank gratitude appreciation grateful appreciate closing_remarks positive_feedback
joke: joke humor humour funny pun riddle comedy
knowledge: knowledge_base wiki handbook internal_docs intranet faq
source: source citation cite cited reference grounding grounded
index: ingestion ingest indexing embedding embeddings vector chunk chunking adding_files
index: add_documents
invoice: bill_of_sale purchase_order
resume: resume cv curriculum_vitae cover_letter work_history employment career
candidate: candidate applicant job_seeker hire hiring recruit recruiting recruiter
job: job role position opening vacancy posting
leave: pto leave time_off vacation_days sick_day day_off allowance
entity: entity entities ner named_entity person_name organization location
contract: contract agreement nda msa clause terms_of_service redline
law: law legal regulation regulatory compliance gdpr ccpa hipaa statute
court: court ruling judgment case_law lawsuit litigation
privacy: privacy personal_data data_protection consent
lead: lead prospect prospecting pipeline_deal opportunity potential_customer potential_customers
crm: crm salesforce hubspot deal_record deal deals
sales: sales sell selling rep reps quota
math: math mathematics algebra calculus equation geometry arithmetic
homework: homework assignment coursework
essay: essay paper_writing thesis composition paper papers student_writing
teacher: teacher tutor instructor classroom lesson curriculum
kpi: kpi metric metrics retention churn
spike: spike drop anomaly anomalies outlier surge dip
spreadsheet: spreadsheet excel google_sheets sheets vlookup cell cells
claim: claim claims loss incident accident damage
coverage_plan: covered deductible policyholder benefits exclusion coverage
insurance: insurance insurer underwriting
hallucination: hallucination hallucinate fabricated fabricate made_up unsupported ungrounded
hallucination: invented
relevance: off_topic irrelevant unrelated relevance
format: format formatting json schema_violation malformed invalid_json
judge: judge grader llm_as_a_judge
onboarding: onboarding getting_started setup first_time walkthrough
settings: settings preferences configuration config
notification: notification alert reminder
recipe: recipe cooking ingredient cook dish
fitness: workout exercise training_plan
image: image photo picture screenshot
music: music song playlist
game: game gaming player
weather: weather forecast
news: news
task refactor: refactor refactoring cleanup clean_up restructure
order: order orders checkout cart basket purchase
account: account profile
ticket: ticket tickets support_ticket case_number
escalate: escalate escalation handoff hand_off human_agent live_agent
complaint: complaint complain dissatisfied unhappy frustrated angry
regex: regex regular_expression
api: api endpoint rest_api graphql webhook
git: git commit branch merge_conflict rebase
security: security vulnerability cve secret_leak exploit
data: dataset csv etl data_cleaning dataframe pandas
prompt: prompt prompts prompting system_prompt
blog: blog article longform long_form
copy: copy copywriting tagline slogan headline
story: story stories fiction poem poetry lyrics novel
roleplay: roleplay role_play persona character
art: art illustration drawing logo artwork
restaurant: restaurant dining dinner lunch cafe
mental_health: mental_health anxiety stress therapy counseling
diet: diet nutrition calorie calories meal_plan
pay: payroll salary paycheck compensation wage wages
interview: interview interviews interviewer
study: study studying learn learning exam_prep
invest: invest investment investing stock stocks portfolio trading
tax: tax taxes irs
loan: loan mortgage credit debt lending
bank: bank banking balance deposit withdrawal wire_transfer
property: property real_estate tenant landlord lease apartment
vehicle: vehicle car cars automobile
inventory: inventory stock_level restock out_of_stock
it_support: vpn wifi printer laptop network_access
permission: permission permissions access_control rbac
calendar: calendar invite agenda
sms: sms text_message
refusal: refusal refuse refused decline declined deny denied
safety: safety harmful unsafe dangerous policy_violation
tone: tone politeness polite rude empathetic empathy
accuracy: accuracy accurate correctness factual incorrect inaccurate wrong_answer
loop: loop looping stuck infinite_loop retry retries
nsfw: nsfw explicit sexual adult_content
sentiment: sentiment emotion negative
plan_change: upgrade downgrade upsell renewal renew
feature_request: feature_request feature_requests wishlist roadmap
natural_language: natural_language plain_english plain_language everyday_language
no_answer: no_results empty_results nothing_found unanswerable missing_context no_relevant not_found
no_answer: irrelevant_results
long: long lengthy
row: row rows
tag: tag tags tagging
outreach: outreach outbound cold_email sequence sequences cadence first_touch
notes: note notes log logging
card: card cards debit_card credit_card
investigate: root_cause investigate investigating investigation
price: price prices pricing quote quotes estimate estimates premium price_quote
"""
# fmt: on
