"""What is at stake in a case and when: harms with their state, dated events, and cue groups.

A harm is a kind of loss (liberty, life, health, home, a child, income, an essential service)
found in one sentence, with a state read from that sentence: `happening` (now or in the last
days), `threatened` (a concrete event ahead), `past`, `hypothetical`, `negated`, or `undated`.
Events are time expressions tied to something that happens on that day (a hearing, a legal
term, an eviction, a surgery) or to a plan. Urgency is decided from these, not from how
dramatic the words are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from backend.domain.triage_time import TimeRef, find_time_refs, fold, is_preterite

CRITICAL_KINDS = ("liberty", "life", "health", "home", "child")
HIGH_KINDS = ("income", "service")
HARM_KINDS = (*CRITICAL_KINDS, *HIGH_KINDS)
STATES = ("happening", "threatened", "undated", "past", "hypothetical", "negated")
LIVE_STATES = frozenset({"happening", "threatened", "undated"})
# Days back that still count as "now" (arrested two days ago, account blocked last week).
RECENT_DAYS = 14
# A harm is "threatened" by an event at most this many days ahead in its sentence.
THREAT_DAYS = 30
# An event this close makes a lawsuit about a harm (eviction) the harm itself.
THREAT_SOON = 7


def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(patterns) + r")\b")


# Cue patterns per harm kind, matched on folded text (lowercase, no accents).
HARM_CUES: dict[str, re.Pattern[str]] = {
    "liberty": _rx(
        r"pres[oa]s?",
        r"prisao",
        r"prender",
        r"prenderam",
        r"prendeu",
        r"detid[oa]s?",
        r"algemad[oa]s?",
        r"flagrante",
        r"(?:audiencia de )?custodia",
        r"habeas corpus",
        r"(?:prisao |em |da |a )preventiva",
        r"preventivamente",
        r"mandado de (?:prisao|busca)",
        r"levad[oa]s? (?:pela|pelos|por) (?:policia|policiais)",
        r"levaram (?:ele|ela|meu \w+|minha \w+) (?:pra|para|a) delegacia",
        r"policia (?:ta|esta|estao|tao) aqui",
        r"regime fechado",
        r"cadeia",
        r"presidio",
        r"penitenciaria",
        r"vao me levar",
        r"se apresentar",
        # General terms of the criminal process and of juvenile detention.
        r"apreendid[oa]s?",
        r"internacao provisoria",
        r"socioeducativ\w+",
        r"conduzid[oa]s? (?:a|para|pra) delegacia",
        r"recolhid[oa]s?",
        r"foragid[oa]s?",
    ),
    "life": _rx(
        r"agred\w+",
        r"agrid\w+",
        r"agride",
        r"empurr\w+",
        r"sangr\w+",
        r"agressao",
        r"agressoes",
        r"(?:me|nela|nele|em mim) bat\w+",
        r"bat(?:eu|ia|endo) (?:em mim|nela|nele)",
        r"apanh\w+",
        r"espanc\w+",
        r"(?:me|a|o|te|nos) mat(?:a|ar|ou|aria|ara|am|o)",
        r"mat(?:a|ar|o|ara) (?:ela|ele|eu|voce|a gente)",
        r"ameac\w+ de morte",
        r"acabar? com (?:a vida|ela|ele|comigo)",
        r"acaba comigo",
        r"terminar o servico",
        r"faca",
        r"espingarda",
        r"revolver",
        r"arma de fogo",
        r"armas?",
        r"pistola",
        r"atir\w+",
        r"medidas? protetivas?",
        r"violencia domestica",
        r"maria da penha",
        r"rondando",
        r"(?:forcar|tentou forcar) a entrada",
        r"tentou entrar",
        r"invadiu",
        r"estupr\w+",
        r"abuso sexual",
        r"valao",
        r"sequestr\w+",
        r"trancou (?:ela|me|a gente)",
        r"quebrou o vidro",
        # General terms of physical violence and self-harm.
        r"socos?",
        r"chut(?:ou|ando|es)",
        r"enforc\w+",
        r"estrangul\w+",
        r"carcere privado",
        r"se matar",
        r"suicid\w+",
    ),
    "health": _rx(
        r"cirurgias?",
        r"operar",
        r"internad[oa]s?",
        r"internacao",
        r"uti",
        r"terapia intensiva",
        r"quimio\w*",
        r"radioterapia",
        r"hemodialise",
        r"dialise",
        r"insulina",
        r"medicamentos?",
        r"medicacao",
        r"remedios?",
        r"antineoplasico",
        r"oxigenio",
        r"transplante",
        r"risco de (?:vida|morte|trombose|desabamento)",
        r"pode morrer",
        r"nao pode (?:esperar|atrasar|ficar sem)",
        r"nao aguenta",
        r"cateterismo",
        r"ponte de safena",
        r"revascularizacao",
        r"neonatal",
        r"insuficiencia respiratoria",
        r"infarto",
        r"regulacao",
        r"sem vaga",
        r"nao tem vaga",
        r"crises graves",
        r"progressao da doenca",
        r"em falta",
        r"(?:acabou|acabaram|faltando|falta) (?:o |a )?(?:remedio|medicamento|insulina)",
        r"so (?:tenho|tem) (?:pra|para) mais",
        r"tratamento",
        # What a patient runs out of, whatever the drug's name.
        r"comprimidos?",
        r"frascos?",
        r"doses?",
        r"crises? (?:convulsiv\w+|epileptic\w+|prolongad\w+|atras de crise)",
        r"estoque (?:\w+ )?(?:acaba|dura|termina)",
        r"surtos?",
        # General terms of acute care.
        r"emergencia",
        r"pronto socorro",
        r"avc",
        r"convuls\w+",
        r"leitos?",
        r"respirador",
        r"intubad[oa]",
        r"entubad[oa]",
    ),
    "home": _rx(
        r"despejo",
        r"despejar",
        r"despejad[oa]s?",
        r"desocupa\w*",
        r"reintegracao de posse",
        r"trocou a fechadura",
        r"trocou o cadeado",
        r"(?:coisas|moveis|pertences|roupas) na (?:rua|calcada)",
        r"(?:nao tenho|nao temos|nao tem|sem|nenhum lugar) (?:pra|para) onde ir",
        r"tirar (?:a gente|nos|todo mundo|minha familia) d\w*",
        r"tiram a gente",
        r"sair da casa",
        r"desaba\w+",
        # A house about to fall down is a home (and lives) at stake.
        r"(?:casa|teto|laje|muro|parede|predio|imovel) (?:\w+ ){0,3}(?:cair|caindo|desab\w+|ruir|"
        r"ruindo|estalando)",
        r"morar na rua",
        r"na rua com",
        r"imissao na posse",
        # General terms of losing one's home.
        r"ordem de despejo",
        r"mandado de (?:despejo|desocupacao|reintegracao)",
        r"demoli\w+",
        r"derrubar a casa",
        r"(?:jogar|botar|colocar|por) (?:\w+ )?na rua",
        r"(?:expuls\w+|botou \w+ pra fora|tirou \w+) de casa",
    ),
    "child": _rx(
        r"nao (?:devolve|devolveu|trouxe)",
        r"nao (?:foi|tinha sido) (?:devolvid|entregue)\w*",
        r"nao volta mais",
        r"levou (?:o|a|meu|minha|nosso|nossa) (?:filh\w+|menin\w+|crianca|net\w+|bebe)",
        r"pegou (?:o|a|meu|minha) (?:filh\w+|menin\w+|crianca|net\w+)",
        r"pegou o menino",
        r"retirou a crianca",
        r"busca e apreensao",
        r"sumiu com (?:o|a|meu|minha)",
        r"nunca mais vou ver",
        r"embarcar\w* com a crianca",
        r"levar (?:ele|ela|o menino|a menina|meu filho|minha filha|os menino\w*) (?:pra|para) "
        r"(?:morar|outro estado|outro pais|fora)",
        # General terms of a child taken away.
        r"conselho tutelar (?:levou|tirou|recolheu)",
        r"acolhimento institucional",
        r"(?:levaram|tomaram|tiraram) (?:o |a )?(?:meu|minha|meus|minhas) "
        r"(?:filh\w+|net\w+|bebe|crianca\w*)",
        r"fugiu com (?:o|a|meu|minha) (?:filh\w+|crianca|bebe|net\w+)",
    ),
    "income": _rx(
        r"sem (?:nenhum |nenhuma |qualquer )?(?:renda|dinheiro|salario|sustento)",
        r"sem um real",
        r"sem receber",
        r"nao (?:paga|pagou|pagam|pagaram|recebo|recebe|recebemos|recebi|recebeu|receberam) "
        r"(?:o |os |meu |nosso |nossos )?salarios?",
        r"salarios? (?:atrasad\w+|em atraso)",
        r"nao recebo",
        r"unica renda",
        r"unico sustento",
        # Locked out of one's own account: the money is there but cannot be used.
        r"troc\w+ (?:as |a )?senhas?",
        r"tir\w+ (?:o )?(?:meu )?acesso",
        r"nao consigo (?:acessar|sacar|movimentar|passar (?:o )?cartao)",
        r"nao (?:tem|tenho|possui) outra (?:renda|fonte)",
        r"sem outra (?:renda|fonte)",
        r"passando (?:necessidade|fome)",
        r"nem (?:pra|para) (?:feira|comida|comprar)",
        r"falta(?:ndo)? (?:ate )?(?:o gas|comida)",
        r"(?:beneficio|bpc|aposentadoria|auxilio|pensao)\w* (?:foi )?(?:suspens\w+|cortad\w+|"
        r"cessad\w+|bloquead\w+)",
        r"(?:suspenderam|cortaram|cessaram|cortou|suspendeu|bloquearam|bloqueou) (?:o |a |meu |"
        r"minha )?(?:beneficio|bpc|aposentadoria|auxilio|pensao)",
        r"nao caiu",
        # Severance withheld is pay not paid; living on others' help is no income.
        r"nao (?:pag\w+|liber\w+|deposit\w+) (?:a |o |as |os |minha |meu |nem )?(?:rescisao|verbas|"
        r"acerto|seguro desemprego|guia)",
        r"vivendo (?:da|de|do) (?:ajuda|favor|doac\w+|caridade)",
        r"bloque\w+ (?:a |na |minha |da |sua )?conta",
        r"(?:valores?|mil|reais|\d) (?:\w+ ){0,2}bloquead\w+",
        r"conta (?:\w+ ){0,2}(?:esta |foi |ta )?bloquead\w+",
        r"(?:beneficio|bpc|aposentadoria|auxilio|pensao)\w* (?:ja )?(?:parou|parad[oa])",
        r"bloqueio de (?:r\$|valores|conta)",
        r"penhor\w+",
        r"vencimentos suspensos",
        r"nao consigo (?:sacar|movimentar)",
        r"folha de pagamento",
        r"devendo no (?:mercado|mercadinho)",
        r"dinheiro (?:ta|esta) preso",
    ),
    "service": _rx(
        r"cort\w+ (?:a |o |minha |meu )?(?:luz|energia|agua|gas)",
        r"(?:luz|energia|agua|gas) (?:foi )?cortad\w+",
        r"sem (?:luz|energia|agua|gas)",
        r"corte (?:de|da|do) (?:luz|energia|agua|gas)",
        r"fornecimento (?:de \w+ )?(?:interrompido|suspenso)",
        r"suspendeu o fornecimento",
        r"interrompido o fornecimento",
    ),
}

# Harms that are someone else's: "quero ver ele preso", "pra prender ele".
_OTHER_PARTY_RE = re.compile(
    r"\b(?:quero|queremos|ver|veja|seja|sejam|fique|prender|denunciar) (?:\w+ ){0,3}$"
)
_NEGATORS = frozenset(["nao", "nem", "nunca", "jamais", "nenhum", "nenhuma", "ninguem", "sem"])
_NEGATION_WINDOW = 2
_QUOTES = frozenset("\"\u201c\u201d'")
_AUXILIARIES = frozenset(
    ["to", "estou", "ta", "esta", "sendo", "ser", "estar", "sou", "vou", "vai"]
)
# A cue of these kinds counts only in a sentence that also matches this.
_HEALTH_ACUTE_RE = re.compile(
    r"internad|internacao|uti\b|infarto|insuficiencia|risco de|pode morrer|nao pode|hemodialise|"
    r"dialise|quimio|neonatal|oxigenio|em falta|acabou|acabaram|faltando|so (?:tenho|tem)"
)
_HEALTH_NEED_RE = re.compile(
    r"\b(?:precis\w+|neg\w+|sem|falta\w*|acab\w+|nao (?:tem|libera|autoriza|cobre|fornece\w*|"
    r"aguenta|entreg\w+)|aguard\w+|fila|espera|risco|suspens\w+|interromp\w+|urgen\w+|vaga|indica\w+|"
    r"prescri\w+|recus\w+|carencia|cobertura|so (?:tem|tenho|temos|resta\w*|sobr\w+)|dura\w*)\b"
)
# "despejados da plataforma", "despejo da marca": no home at stake.
_FIGURATIVE_HOME_RE = re.compile(
    r"\s+(?:d[aoe]s?|dess[ae]|nest[ae]) (?:\w+ )?(?:plataforma|marketplace|rede|marca|franquia|"
    r"sistema|grupo|aplicativo|app|clube|time|partido|site|loja virtual)\b"
)
# Money "preso" in a bank is not a person in prison.
_MONEY_HELD_RE = re.compile(
    r"\b(?:dinheiro|aposentadoria|conta|salario|valor|saldo)\w* (?:\w+ )?(?:ta|esta|fica|ficou|"
    r"tao|estao)? ?$"
)
_REQUIRES = {
    "child": re.compile(r"\b(?:filh\w+|menin\w+|crianca\w*|net[oa]s?|bebe|menor)\b"),
}
# Vehicles: "bateu em mim" is then an accident, not violence.
_VEHICLE_RE = re.compile(r"\b(?:moto|carro|caminhao|onibus|bicicleta|motorista|motociclista)\b")
# Reported threats ("disse que se ela sair ele mata") are threats, not hypotheses.
_REPORTED_THREAT_RE = re.compile(
    r"\b(?:disse|diz|falou|fala|ameac\w+|mandou|manda|dizendo|exige|avisou|gritou)\b"
)
# Words before a harm saying that it is so already ("foi preso", "ficou internada").
_ALREADY_RE = re.compile(r"\b(?:foi|foram|ficou|ficaram|continua|segue|acabou|acabaram|ja)\b")
# How many words back a condition ("se", "caso") still governs a harm.
_CONDITION_WORDS = 16
# "preso nesse carro", "me sinto preso", "prisão de ventre": no one's liberty at stake.
_FIGURATIVE_LIBERTY_RE = re.compile(
    r"\bpres[oa]s? (?:nesse|nessa|neste|nesta|num|numa|a (?:esse|essa|este|esta|um|uma))\b"
    r"|\b(?:sinto|sentindo|senti|sente)(?: me)? pres[oa]\b|\bprisao de ventre\b"
    r"|\b(?:e|virou|parece|vira) uma (?:prisao|cadeia)\b"
    r"|\b(?:parece|como se|feito|igual)\b(?: \w+){0,3} (?:numa|uma|na) (?:prisao|cadeia)\b"
    r"|\bnuma (?:prisao|cadeia) com\b"
    r"|\bpres[oa]s? (?:na|no|em) (?:malha|sistema|receita|banco|fila|analise)\b"
)
# Deprivation that started long ago goes on unless something says it ended.
_ENDED_RE = re.compile(
    r"\b(?:voltou a (?:receber|cair)|restabelecid\w+|religad\w+|regularizad\w+|ja recebi|"
    r"foi pag[oa]|pagou tudo|quitad\w+)\b"
)
# "sem remédio", "não tem vaga" are the harm itself for these kinds.
_SEM_IS_HARM = frozenset({"health", "income", "service", "home"})
_HYPOTHETICAL_RE = _rx(
    r"se (?:eu|ele|ela|eles|elas|um dia|alguem|a gente|nao|voce|o|a|os|as|meu|minha|der|for|"
    r"tiver|houver|quiser|precisar|acontecer|vier|voltar)",
    r"caso",
    r"talvez",
    r"sera que",
    r"posso ser",
    r"pode ser",
    r"vou ser",
    r"vai ser",
    r"podem",
    r"poderia",
    r"poderiam",
    r"eventual",
    r"eventualmente",
    r"medo de (?:ser|ter|perder|virar|ficar)",
    r"risco de (?:ser|ter|perder)",
    r"quando (?:eu|ele|ela)? ?(?:for|voltar|vier|fizer)",
    # "isso dá cadeia": what an act may lead to, said in general.
    r"(?:isso|isto|que) (?:da|dar|daria|dava|pode dar)",
    # Asking whether a remedy can be had ("posso pedir medida protetiva?") is no harm told.
    r"posso (?:pedir|solicitar|requerer|entrar com)",
    r"(?:da|dar) (?:pra|para) pedir",
)
_REMEDY_ASKED_RE = re.compile(r"posso |da |dar ")
# Over for good: in remission, cured, released. Wins over "hoje" in the same sentence.
_CURED_RE = _rx(
    r"remissao",
    r"curad[oa]s?",
    r"recuperad[oa]s?",
    r"se recuperou",
    r"sem sequelas",
    r"solt[oa]s?",
    r"em liberdade",
)
_RECOVERED_RE = _rx(
    r"recuperad[oa]",
    r"(?:ja )?(?:me )?recuperei",
    r"se recuperou",
    r"(?:to|estou|esta|ta|tamo|estamos) bem",
    r"remissao",
    r"sem sequelas",
    r"nunca mais",
    r"extint[oa]",
    r"ja voltei",
    r"retornou ao trabalho",
    r"voltei a trabalhar",
    r"nao tenho (?:mais )?medo",
    r"ja (?:fez|fiz) o tratamento",
    r"sem tratamento",
    r"nao ha tratamento",
    r"condenad[oa]",
    r"ja se passaram",
    r"o que (?:eu )?fiz",
    r"ja (?:sai|saimos|desocupei|entreguei)",
)
_PRESENT_RE = _rx(
    r"agora",
    r"neste momento",
    r"ainda",
    r"continua",
    r"continuam",
    r"segue",
    r"seguem",
    r"desde",
    r"esta",
    r"estao",
    r"estou",
    r"ta",
    r"to",
    r"tao",
    r"estamos",
    r"a partir de",
)
_FUTURE_VERB_RE = _rx(
    r"vai",
    r"vao",
    r"volta",
    r"vem",
    r"sera",
    r"a qualquer momento",
    r"a partir de amanha",
    r"a partir de hoje",
)

# Things that happen on a date: legal acts and terms, harm events, personal plans.
EVENT_CUES: dict[str, re.Pattern[str]] = {
    "legal": _rx(
        r"audiencias?",
        r"prazos?",
        r"pericias?",
        r"depoimento",
        r"depor",
        r"recurso",
        r"recorrer",
        r"contest\w+",
        r"defesa",
        r"defender",
        r"impugna\w+",
        r"responder",
        r"citacao",
        r"citad[oa]",
        r"intimacao",
        r"intimad[oa]",
        r"julgamento",
        r"reuniao",
        r"venc\w+",
        r"habilitacao",
        r"exigencia",
        r"notificacao",
        r"protesto",
        r"edital",
        r"apresentar",
        r"cumprir",
        r"embargos",
        r"purgar",
        r"pagar ou",
        r"sob pena",
        r"convoca\w+",
        r"resposta a acusacao",
        r"manifest(?:ar|acao)",
        r"assembleia",
        r"termina",
        r"encerra\w*",
        r"adesao",
        r"aderir",
        r"inscric\w+",
        r"(?:botar|entrar|colocar) na justica",
        r"entrar com (?:a |uma )?(?:acao|processo)",
        r"ajuiza\w+",
    ),
    "harm": _rx(
        r"despejo",
        r"desocup\w+",
        r"reintegracao",
        r"sair",
        r"tirar",
        r"cirurgia",
        r"operar",
        r"sessao",
        r"quimio\w*",
        r"aplicacao",
        r"dialise",
        r"hemodialise",
        r"medicamento",
        r"remedio",
        r"insulina",
        r"estoque",
        r"dura\w*",
        r"tratamento",
        r"mata\w*",
        r"volta",
        r"vem",
        r"buscar",
        r"embarca\w*",
        r"voo",
        r"prisao",
        r"custodia",
        r"se apresentar",
        r"policia",
        r"pagar (?:5|cinco|\d+) mil",
        r"acaba comigo",
        r"cobre",
        r"cobertura",
        r"internacao",
        r"uti",
    ),
    "plan": _rx(
        r"pretend\w+",
        r"vou (?:comprar|abrir|emprestar|comecar|casar|mudar|passar|lancar|contratar|vender)",
        r"vamos (?:comprar|abrir|emprestar|comecar|casar|mudar|lancar|contratar)",
        r"quero passar",
        r"(?:to|estou|tamo|estamos) pensando",
        r"planej\w+",
        r"comecar a (?:trabalhar|vender)",
        r"recebem",
        r"paga(?:r)? semana",
        r"(?:nomeacao|posse) ainda",
    ),
}
_LAPSED_RE = _rx(
    r"venceu",
    r"venceram",
    r"expirou",
    r"passou",
    r"perdi",
    r"perdeu",
    r"encerrou",
    r"arquivad\w+",
    r"nao compareci",
    r"nao fui",
    r"nao pude ir",
    r"ja ocorreu",
    r"ocorreu em",
    r"sem que",
)
_TERM_RE = _rx(r"prazos?", r"audiencias?", r"data", r"recurso", r"defesa")

# Cue groups read over the whole case (folded), each a short list of general phrasings.
CUE_GROUPS: dict[str, re.Pattern[str]] = {
    "planning": _rx(
        r"(?:quero|queria|gostaria de|so quero|queremos|queriamos) "
        r"(?:saber|entender|tirar uma duvida)",
        r"pergunta(?:m)? (?:se|como|qual|quais|quanto|sobre)",
        r"duvidas?",
        r"como (?:faco|faz|funciona|fazer|fica|proceder|pede|tiro|formalizar|declarar|sei)",
        # "pretende-se MS", "pretende a anulação" in a referral is a claim, not a plan.
        r"pretend\w+ (?:abrir|comprar|vender|casar|mudar|montar|comecar|fazer|contratar|investir|"
        r"construir|alugar|doar|adotar|viajar|emprestar|me aposentar|se aposentar)",
        r"planej\w+",
        r"(?:to|estou|tamo|estamos|ainda) pensando",
        r"antes de (?:assinar|comprar|comecar|investir|pedir|fechar|tomar)",
        r"ainda nao (?:fiz|fizemos|pedi|assinei|assinaram|emprestei|comprei|paguei|publiquei|"
        r"falei|comuniquei|demos|dei|fechou|tem|ha|saiu|chegou nada|recebi)",
        r"(?:apenas|so|somente) (?:orientacao|consulta|planejamento|informacao|uma duvida|pra)",
        r"orientacao (?:preventiva|sobre)",
        r"quanto (?:custa|cobram|voces cobram|fica|tempo demora|tempo leva)",
        r"e seguro",
        r"vale a pena",
        r"so pra (?:eu )?(?:saber|ficar|me garantir|garantir|estar)",
        r"(?:quero|queria) deixar",
        r"estar preparad\w+",
        r"fazer (?:tudo )?certo",
        r"do jeito certo",
        r"curiosidade",
        r"quais (?:seriam )?(?:os )?(?:meus |seus )?direitos",
    ),
    "no_conflict": _rx(
        r"nao (?:ha|tem|existe|houve) (?:nenhum |qualquer )?(?:conflito|problema|briga|"
        r"questionamento|pendencia|disputa)",
        r"sem (?:briga|conflito)",
        r"ninguem (?:me )?(?:cobr\w+|reclamou|questionou|apareceu|copiando)",
        r"nunca (?:houve|teve) (?:questionamento|problema|nada na justica)",
        r"tudo certo entre",
        r"estamos de acordo",
        r"concordes",
        r"amigavel",
        r"nao houve contato",
        r"nao ha relacao",
        r"nenhuma pendencia",
        r"nenhum pedido",
        # Nothing has been done or received yet: the matter is still a question or a plan.
        r"(?:ainda|nunca) nao (?:pedi|pediu|pedimos|fiz|fez|fizemos|entrei|entrou|entramos|"
        r"recebi|recebeu|recebemos|tomamos|tomei|assinei|assinou|assinamos|abri|abriu|comecei|"
        r"dei entrada)",
        r"a gente ainda nao (?:pediu|fez|entrou|recebeu|assinou)",
        r"ninguem (?:me |nos |a |o )?(?:notificou|procurou|chamou|processou|intimou)",
        r"nao (?:recebi|recebemos|recebeu) (?:nada|nenhuma? (?:notificacao|intimacao|citacao|carta|"
        r"cobranca|aviso))",
        r"(?:todos|todo mundo|os dois|nos dois|ambos) "
        r"(?:estao|esta|ta|estamos|concordam|de acordo)",
        r"nada concreto",
        r"(?:so|apenas) (?:uma )?curiosidade",
        r"(?:so|apenas) (?:pra|para) (?:me |se )?informar",
        r"(?:so |apenas )?se informar",
        r"nao assinei nada",
    ),
    "dispute": _rx(
        r"neg(?:ou|aram|ado|ada|ativa)",
        r"indeferi\w+",
        r"nao (?:paga|pagou|pagam|pagaram|devolve|devolveu|quer pagar|vai pagar|responde|"
        r"reconhece|reconhecem|entregou|cumpriu|conta)",
        r"se recus\w+",
        r"recusou",
        r"cobrando",
        r"cobranca",
        r"(?:quero|queremos|deseja|desejam|pretende) (?:processar|cobrar|contestar|recorrer|"
        r"anular|receber|denunciar|que)",
        r"entrar (?:na|com) (?:justica|acao|processo)",
        r"ajuizar",
        r"ajuizou",
        r"processo",
        r"acao (?:de|contra|judicial|revisional)",
        r"recorrer",
        r"contestar",
        r"sumiu",
        r"descumpri\w+",
        r"indeniza\w+",
        r"danos? mora\w+",
        r"reclamacao",
        r"multa",
        r"execucao",
        r"citad[oa]",
        r"intimad[oa]",
        r"abusiv\w+",
        r"indevid\w+",
        r"absurd\w+",
        r"injust\w+",
        r"errad\w+",
        r"golpe",
        r"devendo",
        r"deve(?:m)? (?:r\$|\d)",
        r"em atraso",
        r"atrasad\w+",
        r"dispensad\w+",
        r"demitid\w+",
        r"mandad[oa] embora",
        r"inquerito",
        r"parad[oa]",
        r"nao chamam",
        r"quer(?:em)? (?:me )?tirar",
        r"(?:quero|queremos|queria|deseja|desejam|pretendo) (?:a |o |que |meu |minha |os |as )?"
        r"(?:troca|dinheiro|cobrar|processar|receber|reverter|anular|recorrer|revisar|contestar|"
        r"indeniza\w*|tirar|sair|reconhecimento|entrar|partilhar|executar|ajuizar|recuperar|"
        r"limpar|que)",
        r"abandonou",
        r"desvi\w+",
        r"nao (?:concede|reconheceu|deixa|fornece|marca|chama)",
        r"recusa\w*",
        r"parou de funcionar",
        r"em analise",
        r"sem (?:resposta|retorno)",
        r"dificulta",
        # A body that takes too long is a live problem ("está demorando", "demora na análise").
        r"demor\w+",
        # Someone refuses or opposes: a conflict exists, however calmly it is told.
        r"se op(?:oe|oem|os|useram)",
        r"nao (?:quer|querem|aceita|aceitam|concorda|concordam|assina|assinam|deposita|depositou|"
        r"depositam|libera|liberou|liberam|devolvem|resolve|resolvem|resolveu)",
        r"continua (?:negativad\w+|cobrando|me cobrando|sem pagar)",
        r"(?:ate hoje|ate agora) (?:nada|nao)",
        r"nem responde\w*",
        r"(?:me |nos )?suspend(?:eu|eram)",
    ),
    "no_rush": _rx(
        r"nao e (?:nada )?urgente",
        r"sem (?:nenhuma )?pressa",
        r"nao (?:tem|tenho|ha) (?:nenhuma )?pressa",
        r"nao ha urgencia",
        r"quando (?:puder|puderem|der)",
        r"com calma",
        r"nao ha (?:prazo|risco|audiencia|execucao|ameacas?)",
        r"nenhum prazo",
        r"sem prazo",
        r"nao tem pressa",
        r"isso depois",
        r"a gente ve depois",
        r"resolve depois",
    ),
    "dramatic": _rx(
        r"urgent\w*",
        r"socorr\w*",
        r"desesper\w+",
        r"pelo amor de deus",
        r"me ajud\w+",
        r"absurdo",
        r"vergonha",
        r"nao aguento mais",
        r"gravissimo",
        r"(?:to|estou) (?:perdid[oa]|aperread[oa]|arretad[oa]|indignad[oa])",
    ),
    "has_income": _rx(
        r"salario (?:ta |esta )?(?:em dia|certinho|normalmente)",
        r"recebe(?:ndo)? (?:o salario )?(?:normalmente|regularmente|em dia)",
        r"continua (?:sendo pago|recebendo|empregad\w+|trabalhando)",
        r"segue empregad\w+",
        r"renda propria",
        r"(?:com|tem|possui) renda",
        r"nao (?:to|estou|esta|estamos) passando necessidade",
        r"nao passamos fome",
        r"da (?:pro|para o) gasto",
        r"da pra ir vivendo",
        r"nao falta nada",
        r"(?:ainda|continuo|sigo) (?:estou |to )?trabalhando",
        r"(?:to|estou|tô) trabalhando",
        r"trabalhando ainda",
        r"a gente vai levando",
        r"continua funcionando",
        r"esta funcionando normal",
        r"cnh nao esta suspensa",
    ),
    "not_a_case": _rx(
        r"estagi\w+",
        r"curriculo",
        r"horario de (?:atendimento|funcionamento)",
        r"que horas abre",
        r"qual o endereco",
        r"endereco de voces",
        r"agradec\w+",
        r"esqueci a senha",
        r"servico de caseiro",
        r"festa d\w+",
        r"entrevista",
        r"tcc",
        r"parceria",
        r"palestra",
        r"nao e caso",
        r"nao se trata de atendimento",
        r"formas de pagamento",
        r"aceitam pix",
        r"pix ou cartao",
        r"faculdade de direito",
        r"copia do contrato",
        r"atendem aos sabados?",
    ),
    "question": _rx(r"\?"),
}


@dataclass(frozen=True, slots=True)
class Harm:
    """A harm of one kind in one sentence, with its state and the days to its event, if any."""

    kind: str
    state: str
    who: str
    quote: str
    start: int
    end: int
    days: int | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """A dated thing: `kind` is legal, harm or plan; `lapsed` when its term is gone."""

    kind: str
    days: int
    lapsed: bool
    quote: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class CueHit:
    group: str
    quote: str
    start: int
    end: int


@dataclass(slots=True)
class Evidence:
    """Everything urgency is decided from, with offsets into `text` (title, newline, body)."""

    text: str
    title_length: int
    times: list[TimeRef] = field(default_factory=list)
    harms: list[Harm] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    cues: list[CueHit] = field(default_factory=list)
    caps_ratio: float = 0.0
    # Share of sentences that ask something, and past-tense verbs per 100 words: a question
    # about the future is planning; a narrated past is a live dispute.
    questions: float = 0.0
    past_verbs: float = 0.0
    exclamations: int = 0
    words: int = 0

    def source(self, start: int) -> str:
        return "title" if start < self.title_length else "description"

    def cue(self, group: str) -> list[CueHit]:
        return [hit for hit in self.cues if hit.group == group]

    def harms_of(self, kinds: Iterable[str], states: Iterable[str]) -> list[Harm]:
        kinds, states = set(kinds), set(states)
        return [h for h in self.harms if h.kind in kinds and h.state in states and h.who != "other"]


@dataclass(frozen=True, slots=True)
class _Sentence:
    start: int
    end: int
    times: tuple[TimeRef, ...]


_SENTENCE_RE = re.compile(r"[^.!?;\n]+[.!?;]*")
_TOKEN_RE = re.compile(r"\w+")


def _sentences(folded: str, times: Sequence[TimeRef]) -> list[_Sentence]:
    found = []
    for m in _SENTENCE_RE.finditer(folded):
        if not m.group().strip():
            continue
        inside = tuple(t for t in times if m.start() <= t.start < m.end())
        found.append(_Sentence(m.start(), m.end(), inside))
    return found


def _quote(text: str, start: int, end: int, sentence: _Sentence, context: int = 30) -> str:
    left = max(sentence.start, start - context)
    right = min(sentence.end, end + context)
    # Whole words only: widen to the nearest spaces.
    while left > sentence.start and not text[left - 1].isspace():
        left -= 1
    while right < sentence.end and not text[right].isspace():
        right += 1
    return " ".join(text[left:right].split()).strip(" ,;:")


def _negated(folded: str, sentence: _Sentence, start: int, kind: str, cue: str) -> bool:
    words = [m.group() for m in _TOKEN_RE.finditer(folded, sentence.start, start)]
    # "não tô sendo despejada": auxiliaries between the negator and the harm do not count.
    window = [w for w in words if w not in _AUXILIARIES][-_NEGATION_WINDOW:]
    negators = set(window) & _NEGATORS
    if kind in _SEM_IS_HARM:
        negators -= {"sem"}
    if cue.startswith(("nao ", "sem ")):
        return False
    if kind == "health":
        # "não libera a quimio", "não tem vaga" are the harm; only a need denied negates it.
        return bool(
            re.search(r"\bnao (?:precisa|esta|ta|estou|fez|faz)(?: \w+)? ?$", " ".join(window))
        )
    before = folded[max(sentence.start, start - 25) : start]
    if re.search(
        r"\b(?:nao|nem) (?:ha|houve|existe|tem|teve|possui|sofreu)\b(?: \w+){0,2} ?$", before
    ):
        return True
    return bool(negators) and not re.search(r"\b(?:mas|porem)\b", " ".join(window))


def _hypothetical(folded: str, sentence: _Sentence, start: int, end: int, kind: str) -> bool:
    before = folded[sentence.start : start]
    words = before.split()
    clause = " ".join(words[-_CONDITION_WORDS:])
    conditions = list(_HYPOTHETICAL_RE.finditer(clause))
    if conditions:
        condition = conditions[-1]
        if _REMEDY_ASKED_RE.match(condition.group()):
            return True
        # "disse que se ela sair ele mata" reports a threat; in "se ele voltar a me ameaçar"
        # the threat is inside the condition.
        said = before[: len(before) - len(clause) + condition.start()]
        return not (kind == "life" and _REPORTED_THREAT_RE.search(said))
    text = folded[sentence.start : sentence.end]
    return "?" in text and bool(re.search(r"\b(?:posso|pode|vou|vai) ser\b|\bda cadeia\b", text))


def figurative_liberty(folded: str) -> list[tuple[int, int]]:
    """Spans of words of prison used figuratively ("preso a um contrato", "aposentadoria tá
    presa", "parece uma cadeia"): no one's liberty, and no criminal matter."""
    spans = []
    for m in HARM_CUES["liberty"].finditer(folded):
        if _MONEY_HELD_RE.search(folded[max(0, m.start() - 30) : m.start()]) or any(
            f.start() <= m.start() < f.end()
            for f in _FIGURATIVE_LIBERTY_RE.finditer(folded, max(0, m.start() - 40), m.end() + 30)
        ):
            spans.append((m.start(), m.end()))
    return spans


def _asked(folded: str, sentence: _Sentence, start: int, end: int) -> bool:
    """The harm is what a question asks about ("vou ser preso?", "ele vai preso?"), not a fact
    told: it stands in the last clause of a question, with nothing saying it is so already."""
    rest = folded[end : sentence.end]
    if "?" not in rest or "," in rest:
        return False
    clause = folded[sentence.start : start].rsplit(",", 1)[-1]
    return not (_PRESENT_RE.search(clause) or _ALREADY_RE.search(clause))


def _who(folded: str, sentence: _Sentence, start: int, kind: str) -> str:
    if kind != "liberty":
        return "client"
    before = folded[max(sentence.start, start - 30) : start]
    if _OTHER_PARTY_RE.search(before) or folded.startswith("prend", start):
        return "other"
    return "client"


def _state(
    folded: str, sentence: _Sentence, start: int, end: int, kind: str, cue: str, recent: bool
) -> tuple[str, int | None]:
    if _negated(folded, sentence, start, kind, cue):
        return "negated", None
    ahead = [t.days for t in sentence.times if 0 < t.days <= THREAT_DAYS]
    # "até hoje" says something still goes on; it is no event of today.
    now_refs = [
        t
        for t in sentence.times
        if -RECENT_DAYS <= t.days <= 0 and folded[max(0, t.start - 4) : t.start] != "ate "
    ]
    now = [t.days for t in now_refs]
    # "hoje ele não me incomoda, mas caso volte...": a "hoje" before "mas" leaves the
    # condition after it a condition.
    turn = max(
        folded.rfind(" mas ", sentence.start, start), folded.rfind(" porem ", sentence.start, start)
    )
    old = [
        t.days
        for t in sentence.times
        if t.days < -RECENT_DAYS and (abs(t.start - start) <= _NEAR or abs(t.end - end) <= _NEAR)
    ]
    text = folded[sentence.start : sentence.end]
    if _hypothetical(folded, sentence, start, end, kind) and not any(
        t.start > turn for t in now_refs
    ):
        return "hypothetical", min(ahead) if ahead else None
    if kind in CRITICAL_KINDS and not ahead and _CURED_RE.search(text):
        return "past", None
    if ahead:
        return "threatened", min(ahead)
    if now:
        return "happening", max(now)
    if _asked(folded, sentence, start, end):
        return "hypothetical", None
    if kind in HIGH_KINDS:
        return ("past", None) if _ENDED_RE.search(text) else ("happening", None)
    ongoing = any(
        t.kind == "ago" and re.match(r"\s+(?:\w+\s+)?sem\b", folded[t.end : t.end + 12])
        for t in sentence.times
    )
    if ongoing:
        return "happening", None
    if _RECOVERED_RE.search(text):
        return "past", None
    if old and not _PRESENT_RE.search(text):
        return "past", None
    if _FUTURE_VERB_RE.search(text):
        return "threatened", None
    if _PRESENT_RE.search(text):
        return "happening", None
    return "undated", None


# A past date counts for a harm only this many characters away from it.
_NEAR = 60
_INHERIT_ORDER = ("threatened", "happening", "past", "hypothetical")


def _harms(text: str, folded: str, sentences: Sequence[_Sentence], recent: bool) -> list[Harm]:
    found: list[Harm] = []
    recovered_doc = bool(_RECOVERED_RE.search(folded))
    for kind, pattern in HARM_CUES.items():
        mentions: list[Harm] = []
        for sentence in sentences:
            body = folded[sentence.start : sentence.end]
            required = _REQUIRES.get(kind)
            if required is not None and not required.search(body):
                continue
            for m in pattern.finditer(folded, sentence.start, sentence.end):
                # A word in scare quotes ('vão nos "despejar" da rede') is a figure of speech.
                if (
                    folded[m.start() - 1 : m.start()] in _QUOTES
                    and folded[m.end() : m.end() + 1] in _QUOTES
                ):
                    continue
                if (
                    kind == "life"
                    and m.group().startswith(("bat", "me bat"))
                    and (_VEHICLE_RE.search(body))
                ):
                    continue
                # "ação de despejo" is a lawsuit, unless its execution is dated within days.
                if (
                    kind == "home"
                    and re.search(
                        r"\b(?:acao|processo|citad\w*|citacao)(?: \w+){0,3} $",
                        folded[max(sentence.start, m.start() - 30) : m.start()],
                    )
                    and not any(1 <= t.days <= THREAT_SOON for t in sentence.times)
                ):
                    continue
                if kind == "home" and _FIGURATIVE_HOME_RE.match(folded, m.end()):
                    continue
                if kind == "liberty" and (
                    _MONEY_HELD_RE.search(folded[max(sentence.start, m.start() - 30) : m.start()])
                    or any(
                        f.start() <= m.start() < f.end()
                        for f in _FIGURATIVE_LIBERTY_RE.finditer(
                            folded, max(sentence.start, m.start() - 40), sentence.end
                        )
                    )
                ):
                    continue
                if (
                    kind == "health"
                    and not _HEALTH_ACUTE_RE.search(m.group())
                    and not _HEALTH_NEED_RE.search(body)
                ):
                    continue
                state, days = _state(folded, sentence, m.start(), m.end(), kind, m.group(), recent)
                who = _who(folded, sentence, m.start(), kind)
                quote = _quote(text, m.start(), m.end(), sentence)
                mentions.append(Harm(kind, state, who, quote, m.start(), m.end(), days))
        # An undated mention (often the title) takes the state the other mentions give.
        dated = {h.state for h in mentions}
        inherited = next((st for st in _INHERIT_ORDER if st in dated), None)
        inherited_days = next((h.days for h in mentions if h.state == inherited), None)
        for harm in mentions:
            state, days = harm.state, harm.days
            if state == "undated":
                if inherited:
                    state, days = inherited, inherited_days
                elif recovered_doc and kind in CRITICAL_KINDS:
                    state = "past"
                elif recent:
                    state = "happening"
            found.append(Harm(harm.kind, state, harm.who, harm.quote, harm.start, harm.end, days))
    return found


_DOC_LAPSED_RE = _rx(
    r"perd(?:i|eu|emos) o prazo",
    r"prazo (?:ja )?(?:passou|venceu|expirou|acabou)",
    r"fora do prazo",
)


def _events(text: str, folded: str, sentences: Sequence[_Sentence]) -> list[Event]:
    found: list[Event] = []
    doc_lapsed = bool(_DOC_LAPSED_RE.search(folded))
    for sentence in sentences:
        body = folded[sentence.start : sentence.end]
        for ref in sentence.times:
            body = body.replace(folded[ref.start : ref.end], " " * (ref.end - ref.start))
        lapsed = (
            bool(_LAPSED_RE.search(body) and _TERM_RE.search(body))
            or (doc_lapsed and "prazo" not in body and bool(re.search(r"\bdias\b", body)))
            or bool(re.search(r"\b(?:tinha|tive|teve|tinham|era de)\b", body))
        )
        kinds = [kind for kind in ("harm", "legal") if EVENT_CUES[kind].search(body)]
        # "prazo de 10 dias" is a term even when the time expression took the word "prazo".
        if "legal" not in kinds and any("prazo" in folded[r.start : r.end] for r in sentence.times):
            kinds.append("legal")
        if not kinds and EVENT_CUES["plan"].search(body):
            kinds = ["plan"]
        for ref in sentence.times:
            quote = _quote(text, ref.start, ref.end, sentence, context=40)
            for kind in kinds:
                found.append(
                    Event(kind, ref.days, lapsed and ref.days >= 0, quote, ref.start, ref.end)
                )
    return found


def _cues(text: str, folded: str, sentences: Sequence[_Sentence]) -> list[CueHit]:
    found: list[CueHit] = []
    for group, pattern in CUE_GROUPS.items():
        for sentence in sentences:
            for m in pattern.finditer(folded, sentence.start, sentence.end):
                found.append(
                    CueHit(group, _quote(text, m.start(), m.end(), sentence), m.start(), m.end())
                )
    return found


def gather(title: str, description: str, submitted_at: date) -> Evidence:
    """Harms, events, time references and cue groups of a case."""
    text = f"{title}\n{description}"
    folded = fold(text)
    times = find_time_refs(text, submitted_at)
    sentences = _sentences(folded, times)
    recent = any(-RECENT_DAYS <= t.days <= 0 for t in times)
    letters = [ch for ch in text if ch.isalpha()]
    words = _TOKEN_RE.findall(folded)
    return Evidence(
        text=text,
        title_length=len(title) + 1,
        times=times,
        harms=_harms(text, folded, sentences, recent),
        events=_events(text, folded, sentences),
        cues=_cues(text, folded, sentences),
        caps_ratio=sum(ch.isupper() for ch in letters) / len(letters) if letters else 0.0,
        exclamations=text.count("!"),
        words=len(words),
        questions=sum("?" in folded[s.start : s.end] for s in sentences) / max(1, len(sentences)),
        past_verbs=100 * sum(map(is_preterite, words)) / max(1, len(words)),
    )
