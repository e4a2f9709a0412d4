"""Case texts the API tests submit (Portuguese, each clearly of one area)."""

ARREST = {
    "title": "Meu filho foi preso ontem",
    "description": "Meu filho foi preso em flagrante ontem à noite e ainda não teve audiência "
    "de custódia. Precisamos de ajuda.",
}
PENSION = {
    "title": "Dúvida sobre aposentadoria",
    "description": "Quero saber quando posso pedir minha aposentadoria por tempo de contribuição.",
}
RENT = {
    "title": "Despejo",
    "description": "O proprietário quer me despejar sem aviso prévio do imóvel que alugo.",
}
