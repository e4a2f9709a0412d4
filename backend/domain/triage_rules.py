"""Cue tables for rule-based triage: weighted phrases per legal area.

Urgency is decided from harms, their state and time horizons (`triage_evidence`), ranked by the
linear model of `triage_model`.

Phrases are matched on stemmed tokens, so one entry covers its inflections; a trailing "*"
makes a word a prefix and a leading "=" an exact word (short words whose stems collide).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from backend.domain.text import compile_phrase

ENGINE = "rules-v5"

AREAS = (
    "trabalhista",
    "consumidor",
    "familia",
    "previdenciario",
    "criminal",
    "civil",
    "tributario",
    "empresarial",
    "imobiliario",
    "administrativo",
    "outro",
)
URGENCIES = ("low", "normal", "high", "critical")

# Clients put the gist in the title; a cue found there counts this many times over.
TITLE_WEIGHT = 2.0
# Below this best score nothing specific was recognised and the case is "outro".
AREA_MIN_SCORE = 2.0


@dataclass(frozen=True, slots=True)
class Cue:
    """A phrase, how much it weighs, and the signal name shown to people in reasons."""

    phrase: str
    weight: float
    signal: str
    terms: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "terms", compile_phrase(self.phrase))


def _cues(weight: float, *phrases: str, signal: str | None = None) -> tuple[Cue, ...]:
    return tuple(Cue(phrase, weight, signal or phrase.rstrip("*")) for phrase in phrases)


AREA_CUES: dict[str, tuple[Cue, ...]] = {
    "trabalhista": (
        *_cues(
            4,
            "justa causa",
            "carteira assinada",
            "carteira de trabalho",
            "=ctps",
            "=clt",
            "verbas rescisórias",
            "=fgts",
            "horas extras",
            "hora extra",
            "reclamação trabalhista",
            "vínculo de emprego",
            "vínculo empregatício",
            "insalubridade",
            "periculosidade",
            "assédio moral",
            "empregada doméstica",
            "aviso prévio",
            "décimo terceiro",
            "acidente de trabalho",
            "justiça do trabalho",
            "vara do trabalho",
            "trabalhista",
            "rescisão indireta",
            "seguro desemprego",
        ),
        *_cues(3, "mandado embora", "mandada embora", "sem registro", "rescisão", "férias"),
        # Referrals between offices write the labour court's terms and abbreviations.
        *_cues(4, "=rt", "=trt", "=tst", "=vt", "reclamante", "reclamada", "reclamatória"),
        *_cues(3, "sem carteira", "de carteira", "adicional noturno", "intervalo", "holerite*"),
        *_cues(2, "demitido", "dispensado", "patrão", "patroa", "empregador", "chefe", "gerente"),
        *_cues(2, "salários atrasados", "empregado", "empregada", "colegas", "doméstica"),
        *_cues(2, "=vaqueiro", "=caseiro", "=jardineiro", "=frentista", "=cozinheira"),
        *_cues(1, "salário", "trabalh*", "empresa", "carteira", "obra", "fazenda"),
    ),
    "consumidor": (
        *_cues(6, "plano de saúde", "convênio", signal="plano de saúde"),
        *_cues(5, "consignado", "empréstimo consignado", "operadora de plano"),
        *_cues(4, "consumidor", "procon", "=cdc", "negativ*", "serasa", "=spc", "companhia aérea"),
        *_cues(4, "cobrança indevida", "assistência técnica", "concessionária", "=voo", "=voos"),
        *_cues(4, "nome sujo", "hidrômetro", "medidor", "religa*", "conta salário"),
        *_cues(4, "bagagem", "=mala", "extravi*", "=unimed", "=ans", "=rol"),
        *_cues(3, "operadora", "carência", "cobertura", "tarifa", "fatura", "cartão de crédito"),
        *_cues(3, "produto", "defeito", "loja", "compra online", "cortou a luz", "conta de luz"),
        *_cues(3, "=luz", "=energia", "fornecimento", "garantia", "revenda", "fidelidade"),
        *_cues(3, "crediário", "pela internet", "=oncologista"),
        *_cues(4, "consórcio", "supermercado", "=mercado", "=shopping"),
        *_cues(2, "banco", "bancária", "comprei", "internet", "reajuste", "entrega", "=água"),
        *_cues(3, "=desconto", "=descontos", "descontando", "nunca fiz", "nunca contratei"),
    ),
    "familia": (
        *_cues(
            5, "violência doméstica", "maria da penha", "medida protetiva", "pensão alimentícia"
        ),
        *_cues(5, "divórcio", "guarda compartilhada", "paternidade", "união estável", "inventário"),
        *_cues(5, "herança", "herdeiros", "partilha", "partilhar", "testamento"),
        *_cues(8, "delegacia da mulher", "=deam"),
        *_cues(10, "prisão civil"),
        # A child's maintenance and the guardianship authority are family matters, police or not.
        *_cues(6, "pensão do filho", "pensão dos filhos", "pensão da filha", "pensão das filhas"),
        *_cues(6, "pensão do menino", "pensão da menina", "conselho tutelar", "acolhimento"),
        *_cues(4, "me bateu", "bateu nela", "me agrediu", "apanhando", "ex marido"),
        *_cues(3, "alimentos", "=guarda", "visitas", "=dna", "casamento", "separar", "separação"),
        *_cues(3, "companheiro", "companheira", "meu ex", "ex mulher", "agrediu", "divorci*"),
        *_cues(3, "busca e apreensão", "pai do meu filho", "mãe do meu filho", "não devolve"),
        *_cues(2, "marido", "esposa", "=filha", "=filhos", "=menino", "=menina", "=neta", "=neto"),
        *_cues(1, "=filho", "faleceu", "morreu", "pensão", "crianças", "=mulher"),
    ),
    "previdenciario": (
        *_cues(5, "=inss", "aposentadoria", "auxílio doença", "=bpc", "=loas", "pensão por morte"),
        *_cues(5, "salário maternidade", "tempo de contribuição", "previdenciário", "invalidez"),
        *_cues(4, "aposent*", "benefício", "perícia", "pente fino", "previdência", "tempo rural"),
        *_cues(4, "auxílio por incapacidade", "prova de vida", "=cnis", "carnê do inss"),
        *_cues(3, "contribuição", "=ppp", "tempo especial", "indeferiu", "indeferimento"),
        *_cues(3, "segurado", "segurada", "carência"),
    ),
    "criminal": (
        *_cues(5, "preso", "prisão", "flagrante", "habeas corpus", "inquérito", "delegacia"),
        *_cues(5, "tráfico", "furto", "furtar", "roubo", "golpe", "golpista", "assalt*"),
        *_cues(5, "estelionato", "calúnia", "difamação", "injúria", "lesão corporal", "fiança"),
        *_cues(5, "audiência de custódia", "regime fechado", "semiaberto", "bafômetro"),
        *_cues(4, "ação penal", "resposta à acusação", "denunciado", "=réu"),
        *_cues(5, "receptação", "homicídio", "assassin*", "algemado", "presídio", "preventiva"),
        *_cues(4, "crime", "criminal", "=pena", "=réu", "embriaguez", "progressão", "depor"),
        *_cues(3, "boletim de ocorrência", "polícia", "policiais", "depoimento", "acusado"),
        *_cues(3, "ameaçou de morte", "ameaça de morte", "=faca", "investigado", "blitz", "=bo"),
        *_cues(3, "agiota", "=cadeia", "espingarda", "juizado especial criminal"),
        *_cues(2, "acusou", "roub*", "bandido*", "polícia civil"),
    ),
    "civil": (
        *_cues(4, "acidente de trânsito", "danos materiais", "vazamento", "cheque", "cheques"),
        *_cues(5, "penhora", "impenhorável", "nota promissória"),
        *_cues(4, "erro médico", "pedreiro", "cachorro", "responsabilidade civil", "infiltração"),
        *_cues(4, "emprestei", "empréstimo", "bateu no meu carro", "bateu na traseira"),
        *_cues(4, "emprestar", "emprestado", "juizado especial cível", "ação de cobrança"),
        *_cues(3, "fiador", "reforma", "imagem", "foto", "danos morais", "atropel*", "=muro"),
        *_cues(3, "hóspede", "motoqueiro", "motociclista", "=gado", "=roça", "conserto"),
        *_cues(2, "vizinho", "indeniz*", "dívida", "cobrar", "prescreveu", "prescrição", "carro"),
        *_cues(2, "vizinha", "=moto", "=trator", "=juizado"),
        *_cues(1, "execução", "contrato"),
    ),
    "tributario": (
        *_cues(5, "imposto", "=irpf", "malha fina", "=ipva", "=icms", "=iss", "=itcmd", "tribut*"),
        *_cues(5, "execução fiscal", "dívida ativa", "simples nacional", "lucro presumido"),
        *_cues(5, "bitributação", "fisco", "=itr", "carnê leão"),
        *_cues(7, "imposto de renda"),
        *_cues(4, "receita federal", "secretaria da fazenda", "auto de infração", "=iptu"),
        *_cues(4, "=receita", "declarar", "declaração", "=ir", "fazenda nacional"),
        *_cues(3, "isenção", "restituição", "parcelamento", "impostos"),
        *_cues(5, "ganho de capital", "=refis"),
    ),
    "empresarial": (
        *_cues(5, "recuperação judicial", "falência", "franquia", "franqueado", "franqueadora"),
        *_cues(5, "startup", "duplicata", "duplicatas", "contrato social", "acordo de sócios"),
        *_cues(
            5, "apuração de haveres", "sociedade limitada", "=inpi", "=ltda", "sócio administrador"
        ),
        *_cues(4, "sócio", "sócios", "=cotas", "=quotas", "concorrente", "empresário", "=cnpj"),
        *_cues(4, "registrar a marca", "registro de marca", "=slu", "dissolução parcial"),
        *_cues(3, "=marca", "sociedade", "fornecedor", "indústria", "protestar", "protesto"),
        *_cues(3, "distribuidora", "fábrica", "credor", "credores"),
        *_cues(2, "firma"),
        *_cues(2, "minha empresa", "da empresa", "abrir uma empresa", "=mei", "clientes"),
    ),
    "imobiliario": (
        *_cues(6, "usucapião", "=despejo", "inquilino", "locação", "locatário", "locador"),
        *_cues(6, "reintegração de posse", "ação de despejo", "contrato de gaveta"),
        *_cues(5, "alug*", "na planta", "compra e venda", "distrato", "loteamento", "caução"),
        *_cues(4, "imóvel", "escritura", "matrícula", "condomínio", "condominial", "=lote"),
        *_cues(4, "terreno", "ocupação", "desocupar", "desocupação", "síndico", "condômina"),
        *_cues(3, "proprietário", "apartamento", "construtora", "fechadura"),
        *_cues(2, "chaves"),
        *_cues(2, "dono da casa", "corretor", "=sítio", "imobiliária"),
    ),
    "administrativo": (
        *_cues(6, "=sus", "secretaria de saúde", "licitação", "pregão", "servidor público"),
        *_cues(6, "=ibama", "heteroidentificação", "=upa", "regulação", "posto de saúde"),
        *_cues(5, "concurso", "servidor", "processo administrativo", "=pad", "=detran", "=cnh"),
        *_cues(5, "multa de trânsito", "poder público", "órgão público", "cargos públicos"),
        *_cues(5, "concursada", "concursado", "estatutário", "farmácia do estado", "=tfd"),
        *_cues(4, "estadual", "municipal", "prefeitura", "cargo", "rodovia"),
        *_cues(4, "hospital regional", "hospital municipal", "hospital público", "secretaria"),
        *_cues(4, "=jari", "=cetran", "vigilância sanitária", "edital", "=município"),
        *_cues(4, "mandado de segurança", "autoridade coatora"),
        *_cues(5, "regime próprio", "magistério", "fiscal da prefeitura", "fiscalização municipal"),
        *_cues(3, "do estado", "=posse", "contra o estado", "pelo sus", "=pm", "polícia militar"),
    ),
    "outro": (
        *_cues(5, "honorários", "parceria", "=eleicoes", "=eleicao", "eleitoral", "vereador"),
        *_cues(5, "=lgpd", "antecedentes criminais", "desmatamento", "preservação permanente"),
        *_cues(5, "cidadania", "nacionalidade", "campeonato", "federação", "desportiv*"),
        *_cues(5, "estágio", "currículo", "=tcc", "=caseiro", "gov br", "=partido", "candidat*"),
        *_cues(3, "atendimento", "escritório", "consulta", "teste", "=visto", "faculdade"),
        *_cues(3, "=festa", "horário", "=endereço", "agradec*", "=senha", "portugal", "itália"),
    ),
}

# The named precedence rules of the definitions: a health plan is consumidor; SUS, the State,
# public servants and exams are administrativo; rent, eviction, property purchase and usucapião
# are imobiliario; inheritance and domestic violence are familia. One of these phrases (not
# negated) makes its area win over the model, provided the model gives that area at least
# PRECEDENCE_MIN_PROBABILITY (a passing mention of rent in a benefit case does not count).
PRECEDENCE: dict[str, tuple[Cue, ...]] = {
    "consumidor": _cues(
        1,
        "plano de saúde",
        "operadora de plano",
        "operadora do plano",
        "convênio médico",
        "hospital do plano",
        "plano negou",
        "=unimed",
        "=hapvida",
        "=amil",
        signal="plano de saúde",
    ),
    "administrativo": _cues(
        1,
        "=sus",
        "servidor público",
        "servidora pública",
        "concurso público",
        "concurso",
        "concursado",
        "concursada",
        "secretaria de saúde",
        "posto de saúde",
        "=upa",
        "regime próprio",
        "servidor estadual",
        "servidora estadual",
        "servidor municipal",
        "servidora municipal",
        "fiscal da prefeitura",
        signal="SUS, Estado, servidor ou concurso",
    ),
    "imobiliario": _cues(
        1,
        "=despejo",
        "ação de despejo",
        "usucapião",
        "inquilino",
        "inquilina",
        "locação",
        "contrato de aluguel",
        "compra e venda",
        signal="aluguel, despejo, compra de imóvel ou usucapião",
    ),
    "familia": _cues(
        1,
        "herança",
        "inventário",
        "testamento",
        "herdeiros",
        "maria da penha",
        "medida protetiva",
        "medidas protetivas",
        "violência doméstica",
        "delegacia da mulher",
        "=deam",
        "prisão civil",
        "pensão alimentícia",
        "pensão do filho",
        "pensão dos filhos",
        "pensão da filha",
        "conselho tutelar",
        signal="herança, violência doméstica, alimentos ou guarda",
    ),
}
PRECEDENCE_MIN_PROBABILITY = 0.1
